// SPDX-License-Identifier: Apache-2.0
// One dataplane, one owner: the locks a running sluiced holds on what it
// forwards through, so that a second sluiced (with any --state-dir) cannot
// attach to the same interface or adopt the same XDP pins and silently
// overwrite the first one's maps, and `--xdp-detach` cannot pull the
// program out from under a live owner without --force.
//
// Each resource is a file in a lock folder (/run/sluice/locks: tmpfs, so a
// reboot forgets every owner, as it forgets every interface), locked with
// flock(LOCK_EX | LOCK_NB) for the life of the process and holding the
// owner's PID, dataplane and state folder for the message of whoever is
// refused. The kernel drops the lock when the owner exits, crashes or is
// killed, so a stale file is never mistaken for a live owner; files are
// never removed (removing one while another process opens it would let
// two processes each lock a different file of the same name).
//
// What is locked (file names derived from the resource, so that tests with
// their own interfaces and pin folders never meet a real sluiced's locks):
//  - a kernel interface, by network namespace and name ("if-NETNS-NAME"):
//    the same veth cannot be driven by two sluiceds, whichever dataplane
//    (XDP on it, or DPDK through an af_xdp/af_packet vdev naming it);
//  - an XDP pin folder, by its path ("pins-HASH-PATH"): two interfaces of
//    the same name in two network namespaces would otherwise share pins
//    when the pin root is a bpffs both see;
//  - a DPDK port without kernel interface (a PCI address), by device name.
// Limits: the lock folder must be the same for every sluiced of the host
// (it is, unless one runs in a container with its own /run), and the PID
// is as the owner saw it (another PID namespace shows another number).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace sluice::control {

inline constexpr const char* kDefaultLockFolder = "/run/sluice/locks";

// Who holds (or wants) a lock: written into the lock file.
struct LockOwner {
  long pid = 0;
  std::string dataplane;  // "xdp", "dpdk", "xdp-detach"
  std::string state_dir;  // empty: file mode (--services) or none
};

// One resource to lock.
struct LockTarget {
  std::string file_name;    // in the lock folder, from the *_lock_target helpers
  std::string description;  // for people: "interface eth1", "XDP pin folder /sys/..."
};

// The kernel interface `name` in this process's network namespace.
LockTarget interface_lock_target(const std::string& name);
// The XDP pin folder `folder` (symbolic links in its existing part resolved).
LockTarget pin_folder_lock_target(const std::string& folder);
// A DPDK port that has no kernel interface, by its device name.
LockTarget dpdk_port_lock_target(const std::string& device);

// "prefix-" + `key` with every character but [A-Za-z0-9._-] replaced by
// '_', and a hash of `key` added where that changed it or shortened it
// (so that different keys never share a name). Exposed for tests.
std::string lock_file_name(const std::string& prefix, const std::string& key);

// The locks held; released when destroyed (or when the process ends).
class OwnershipLock {
 public:
  // Takes every lock of `targets`, in order, or none: on refusal *error
  // names the resource and its owner ("interface eth1 is owned by a
  // running sluiced: PID 4242, dataplane xdp, --state-dir /var/lib/sluice")
  // and *owner_pid is its PID (0 when the file did not say yet). Creates
  // `folder` when missing.
  static std::unique_ptr<OwnershipLock> acquire(const std::string& folder,
                                                const std::vector<LockTarget>& targets,
                                                const LockOwner& me, std::string* error,
                                                long* owner_pid = nullptr);
  ~OwnershipLock();
  OwnershipLock(const OwnershipLock&) = delete;
  OwnershipLock& operator=(const OwnershipLock&) = delete;

  // What is held, for the start log: "interface eth1, XDP pin folder ...".
  std::string summary() const;

 private:
  OwnershipLock() = default;
  std::vector<int> fds_;
  std::vector<std::string> descriptions_;
};

}  // namespace sluice::control
