// SPDX-License-Identifier: Apache-2.0
#include "control/daemon/interface_lock.h"

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sluice::control {
namespace {

// Longest name kept readable; the hash makes a cut one unique.
constexpr size_t kMaxReadableKey = 120;

// FNV-1a, 64 bits: stable across builds and machines (std::hash is not),
// so every sluiced derives the same file name for the same resource.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// The network namespace's identity: the inode of /proc/self/ns/net (the
// same number `ip netns identify` and lsns show); 0 when unreadable.
unsigned long long network_namespace() {
  struct stat st {};
  return ::stat("/proc/self/ns/net", &st) == 0 ? static_cast<unsigned long long>(st.st_ino) : 0;
}

// `path` with symbolic links in its existing part resolved, so that two
// spellings of one folder lock the same file; the missing tail is kept as
// written (sluiced creates it later).
std::string canonical_path(const std::string& path) {
  std::string head = path, tail;
  while (!head.empty() && head != "/") {
    char resolved[PATH_MAX];
    if (::realpath(head.c_str(), resolved)) {
      std::string out = resolved;
      if (out != "/" && !tail.empty()) out += "/";
      return out + tail;
    }
    const size_t slash = head.find_last_of('/');
    if (slash == std::string::npos) break;
    const std::string part = head.substr(slash + 1);
    if (!part.empty()) tail = tail.empty() ? part : part + "/" + tail;
    head = slash == 0 ? "/" : head.substr(0, slash);
  }
  return path;
}

// "key=value" lines of a lock file; empty when unreadable.
std::string read_all(int fd) {
  std::string text;
  char buffer[512];
  off_t offset = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buffer, sizeof(buffer), offset);
    if (n <= 0 || text.size() > 4096) break;  // bounded: we wrote a few lines
    text.append(buffer, static_cast<size_t>(n));
    offset += n;
  }
  return text;
}

std::string field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size() + 1, key + "=") == 0) return line.substr(key.size() + 1);
  }
  return {};
}

// The refusal: who owns `target`, from what its file says. The owner
// writes the file right after taking the lock, so an empty one is an owner
// still starting: read once more after a moment.
std::string describe_owner(int fd, const LockTarget& target, long* owner_pid) {
  std::string text = read_all(fd);
  if (field(text, "pid").empty()) {
    ::usleep(100 * 1000);
    text = read_all(fd);
  }
  const std::string pid = field(text, "pid");
  const std::string dataplane = field(text, "dataplane");
  const std::string state_dir = field(text, "state_dir");
  if (owner_pid) *owner_pid = pid.empty() ? 0 : std::strtol(pid.c_str(), nullptr, 10);
  std::string out = target.description + " is owned by a running sluiced: PID " +
                    (pid.empty() ? std::string("unknown (starting)") : pid);
  if (!dataplane.empty()) out += ", dataplane " + dataplane;
  out += state_dir.empty() ? std::string(", no --state-dir") : ", --state-dir " + state_dir;
  return out;
}

bool make_folder(const std::string& folder, std::string* error) {
  // Parents first (/run/sluice, then /run/sluice/locks).
  for (size_t slash = folder.find('/', 1);; slash = folder.find('/', slash + 1)) {
    const std::string part = slash == std::string::npos ? folder : folder.substr(0, slash);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
      *error = "cannot create the lock folder " + part + ": " + std::strerror(errno);
      return false;
    }
    if (slash == std::string::npos) return true;
  }
}

}  // namespace

std::string lock_file_name(const std::string& prefix, const std::string& key) {
  std::string readable = key;
  for (char& c : readable) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    if (!keep) c = '_';
  }
  // "." and ".." alone would name folders.
  const bool changed = readable != key || readable.size() > kMaxReadableKey ||
                       readable.find_first_not_of('.') == std::string::npos;
  if (!changed) return prefix + "-" + readable;
  if (readable.size() > kMaxReadableKey) readable = readable.substr(readable.size() - kMaxReadableKey);
  char hash[17];
  std::snprintf(hash, sizeof(hash), "%016llx", static_cast<unsigned long long>(fnv1a(key)));
  return prefix + "-" + hash + "-" + readable;
}

LockTarget interface_lock_target(const std::string& name) {
  // Interface names are per network namespace: eth0 here is not eth0 there.
  const std::string netns = std::to_string(network_namespace());
  return {lock_file_name("if-" + netns, name), "interface " + name};
}

LockTarget pin_folder_lock_target(const std::string& folder) {
  const std::string path = canonical_path(folder);
  return {lock_file_name("pins", path), "XDP pin folder " + path};
}

LockTarget dpdk_port_lock_target(const std::string& device) {
  return {lock_file_name("port", device), "DPDK port " + device};
}

std::unique_ptr<OwnershipLock> OwnershipLock::acquire(const std::string& folder,
                                                      const std::vector<LockTarget>& targets,
                                                      const LockOwner& me, std::string* error,
                                                      long* owner_pid) {
  if (owner_pid) *owner_pid = 0;
  if (!make_folder(folder, error)) return nullptr;
  std::unique_ptr<OwnershipLock> lock(new OwnershipLock());
  std::ostringstream record;
  record << "pid=" << me.pid << "\ndataplane=" << me.dataplane << "\nstate_dir=" << me.state_dir
         << "\n";
  for (const LockTarget& target : targets) {
    const std::string path = folder + "/" + target.file_name;
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
      *error = "cannot open the lock file " + path + " of " + target.description + ": " +
               std::strerror(errno);
      return nullptr;  // the destructor releases what was taken
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int saved = errno;
      *error = saved == EWOULDBLOCK ? describe_owner(fd, target, owner_pid)
                                    : "cannot lock " + path + ": " + std::strerror(saved);
      ::close(fd);
      return nullptr;
    }
    lock->fds_.push_back(fd);
    lock->descriptions_.push_back(target.description);
    // Ours now: the previous owner's record (if any) is replaced.
    const std::string text = record.str() + "resource=" + target.description + "\n";
    if (::ftruncate(fd, 0) != 0 ||
        ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
      *error = "cannot write the lock file " + path + ": " + std::strerror(errno);
      return nullptr;
    }
  }
  return lock;
}

OwnershipLock::~OwnershipLock() {
  for (int fd : fds_) ::close(fd);  // closing the last descriptor releases the flock
}

std::string OwnershipLock::summary() const {
  std::string out;
  for (const std::string& d : descriptions_) out += (out.empty() ? "" : ", ") + d;
  return out;
}

}  // namespace sluice::control
