// SPDX-License-Identifier: Apache-2.0
// The bpffs folder where the XDP program and its maps are pinned, so that
// they outlive sluiced: finding (or mounting) the filesystem, and the pin
// files in one folder.
#pragma once

#include <cstddef>
#include <string>

namespace sluice::xdp {

inline constexpr const char* kDefaultBpffs = "/sys/fs/bpf";

// Makes sure `folder` can hold pins, creating it (and its parents) if
// needed: its nearest existing ancestor must be on a bpffs. The default
// mount point (/sys/fs/bpf) is mounted when nothing is mounted there, as
// systemd does at boot, but only in the mount namespace of PID 1: a bpffs
// mounted in a private mount namespace (the one `ip netns exec` makes,
// which also remounts /sys and so hides the host's /sys/fs/bpf) vanishes
// with the last process in it, and with it the pins: the next sluiced
// would replace the program instead of adopting it, losing every flow.
// Throws XdpError naming the folder, and the fix, otherwise.
void prepare_pin_folder(const std::string& folder);

// Why sluiced must not mount a bpffs itself here, or "" when it may:
// `self_ns` and `init_ns` are the targets of /proc/self/ns/mnt and
// /proc/1/ns/mnt ("mnt:[4026531840]"), empty when unreadable (PID 1's is
// unreadable in some containers: then nobody can tell, and it refuses).
std::string bpffs_mount_refusal(const std::string& self_ns, const std::string& init_ns);

// Whether `path` is on a bpffs (false when it does not exist).
bool on_bpffs(const std::string& path);

// Whether a pin (or any file) exists at `path`.
bool pin_exists(const std::string& path);

// Removes every pin (every file that is not a folder) in `folder`; with
// `and_folder`, then the folder itself if that left it empty. A missing
// folder is not an error. Returns how many pins were removed. Throws
// XdpError when a pin cannot be removed.
size_t remove_pins(const std::string& folder, bool and_folder);

}  // namespace sluice::xdp
