// SPDX-License-Identifier: Apache-2.0
#include "control/util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::control {

bool write_file_atomically(const std::string& path, const std::string& content,
                           std::string* error) {
  const std::string tmp = path + ".tmp";
  // On any failure the descriptor is closed and the temporary file removed:
  // a failing disk then neither leaks a descriptor per stats interval nor
  // leaves a half-written *.tmp behind.
  auto fail = [&](const std::string& name, int fd) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    *error = name + ": " + std::strerror(err);
    return false;
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = tmp + ": " + std::strerror(errno);
    return false;
  }
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(tmp, fd);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail(tmp, fd);
  if (::close(fd) != 0) return fail(tmp, -1);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(path, -1);
  return true;
}

}  // namespace sluice::control
