// Helpers shared by the tests that load BPF programs: whether this process
// may load them at all, and libbpf's messages (the verifier log among them)
// kept so that a refused load says why.
#pragma once

#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <string>

namespace sluice::test::bpf {

// Whether this process may load BPF programs (CAP_BPF, or CAP_SYS_ADMIN on
// kernels before 5.8). Checked on the effective set, not on uid 0, so a root
// shell inside a restricted container skips instead of failing.
inline bool can_load_bpf() {
  __user_cap_header_struct header{};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  if (syscall(SYS_capget, &header, data) != 0) return false;
  auto has = [&data](int cap) { return (data[cap / 32].effective >> (cap % 32)) & 1; };
  constexpr int kCapBpf = 39;  // CAP_BPF; older uapi headers lack the name
  return has(kCapBpf) || has(CAP_SYS_ADMIN);
}

// Everything libbpf said (debug messages aside) since the last clear.
inline std::string& libbpf_log() {
  static std::string log;
  return log;
}

// A libbpf_set_print() callback appending to libbpf_log(). The verifier log
// arrives as one huge %s, so the message is sized before it is formatted.
inline int collect_libbpf_log(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  va_list again;
  va_copy(again, args);
  const int n = vsnprintf(nullptr, 0, fmt, args);
  if (n > 0) {
    std::string text(static_cast<size_t>(n) + 1, '\0');
    vsnprintf(text.data(), text.size(), fmt, again);
    text.resize(static_cast<size_t>(n));
    libbpf_log() += text;
  }
  va_end(again);
  return n;
}

// The end of the log: a refused program's verifier log can run to
// megabytes, and its end says why the verifier gave up.
inline std::string libbpf_log_tail(size_t max = 8000) {
  const std::string& log = libbpf_log();
  return log.size() <= max ? log : "..." + log.substr(log.size() - max);
}

}  // namespace sluice::test::bpf
