// SPDX-License-Identifier: Apache-2.0
#include "dataplane/xdp/bpffs.h"

#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "dataplane/xdp/xdp_maps.h"

namespace sluice::xdp {
namespace {

constexpr long kBpffsMagic = 0xcafe4a11;  // BPF_FS_MAGIC, linux/magic.h

std::string parent_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Creates `folder` and its missing parents (mkdir -p).
void make_folders(const std::string& folder) {
  if (pin_exists(folder)) return;
  const std::string parent = parent_of(folder);
  if (parent != folder) make_folders(parent);
  if (mkdir(folder.c_str(), 0700) != 0 && errno != EEXIST) {
    throw XdpError("cannot create the pin folder " + folder + ": " + std::strerror(errno));
  }
}

std::string read_link(const char* path) {
  char buf[256];
  const ssize_t n = readlink(path, buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

std::string bpffs_mount_refusal(const std::string& self_ns, const std::string& init_ns) {
  if (!self_ns.empty() && self_ns == init_ns) return "";
  return init_ns.empty()
             ? "whether this is the host's mount namespace cannot be told (/proc/1/ns/mnt is "
               "unreadable)"
             : "this process runs in a private mount namespace (" + self_ns + ", PID 1 has " +
                   init_ns + "; `ip netns exec` makes one and remounts /sys)";
}

bool on_bpffs(const std::string& path) {
  struct statfs fs {};
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == kBpffsMagic;
}

bool pin_exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

void prepare_pin_folder(const std::string& folder) {
  std::string existing = folder;
  while (!pin_exists(existing) && existing != "/") existing = parent_of(existing);
  if (!on_bpffs(existing)) {
    const bool default_mount = existing == kDefaultBpffs ||
                               folder.rfind(std::string(kDefaultBpffs) + "/", 0) == 0;
    if (!default_mount || !pin_exists(kDefaultBpffs) || on_bpffs(kDefaultBpffs)) {
      throw XdpError("cannot pin the XDP program in " + folder + ": " + existing +
                     " is not on a bpffs (mount one: mount -t bpf bpf DIR)");
    }
    const std::string refusal =
        bpffs_mount_refusal(read_link("/proc/self/ns/mnt"), read_link("/proc/1/ns/mnt"));
    if (!refusal.empty()) {
      throw XdpError(
          std::string("no bpffs at ") + kDefaultBpffs + ", and sluiced will not mount one: " +
          refusal + ". A bpffs mounted here would vanish when sluiced exits, taking the pins of " +
          folder + " with it: the next start would replace the XDP program instead of adopting "
          "it, losing every flow. Mount one where every start sees it, outside any `ip netns "
          "exec` (e.g. mkdir -p /run/sluice/bpffs && mount -t bpf bpf /run/sluice/bpffs), and "
          "pass --xdp-pin-dir /run/sluice/bpffs/sluice; or mount -t bpf bpf " +
          kDefaultBpffs + " in the host's mount namespace and run sluiced there");
    }
    if (mount("bpf", kDefaultBpffs, "bpf", 0, "mode=0700") != 0) {
      throw XdpError(std::string("no bpffs at ") + kDefaultBpffs + " and mounting one failed: " +
                     std::strerror(errno) + " (mount -t bpf bpf " + kDefaultBpffs + ")");
    }
  }
  make_folders(folder);
  if (!on_bpffs(folder)) {
    throw XdpError("cannot pin the XDP program in " + folder + ": it is not on a bpffs");
  }
}

size_t remove_pins(const std::string& folder, bool and_folder) {
  std::vector<std::string> pins;
  if (DIR* dir = opendir(folder.c_str())) {
    while (const dirent* e = readdir(dir)) {
      if (e->d_type != DT_DIR) pins.push_back(folder + "/" + e->d_name);
    }
    closedir(dir);
  } else if (errno == ENOENT) {
    return 0;
  } else {
    throw XdpError("cannot list the pin folder " + folder + ": " + std::strerror(errno));
  }
  size_t removed = 0;
  for (const std::string& path : pins) {
    if (unlink(path.c_str()) == 0) {
      ++removed;
    } else if (errno != ENOENT) {
      throw XdpError("cannot remove the pin " + path + ": " + std::strerror(errno));
    }
  }
  if (and_folder) rmdir(folder.c_str());  // fails, harmlessly, if something else is in it
  return removed;
}

}  // namespace sluice::xdp
