// SPDX-License-Identifier: Apache-2.0
#include "control/state/file_audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string_view>
#include <utility>

#include "control/daemon/json_writer.h"

namespace sluice::control {
namespace {

// `text` with every byte that is not part of a well-formed UTF-8 sequence
// (overlong forms, surrogates and code points past U+10FFFF included)
// replaced by U+FFFD, so the JSON line stays valid whatever a peer sent.
std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    uint32_t min = 0;
    uint32_t code = 0;
    if (lead < 0x80) {
      out += static_cast<char>(lead);
      ++i;
      continue;
    }
    if ((lead & 0xe0) == 0xc0) {
      length = 2, min = 0x80, code = lead & 0x1f;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3, min = 0x800, code = lead & 0x0f;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4, min = 0x10000, code = lead & 0x07;
    }
    bool ok = length != 0 && i + length <= text.size();
    for (size_t k = 1; ok && k < length; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      ok = (c & 0xc0) == 0x80;
      code = (code << 6) | (c & 0x3f);
    }
    ok = ok && code >= min && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
    if (ok) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xef\xbf\xbd";  // U+FFFD, for this one byte; resync on the next
      ++i;
    }
  }
  return out;
}

// "2024-05-01T12:34:56.789Z"
std::string rfc3339_utc(int64_t unix_ms) {
  int64_t seconds = unix_ms / 1000;
  int64_t millis = unix_ms % 1000;
  if (millis < 0) {  // before 1970: floor, not truncate
    millis += 1000;
    seconds -= 1;
  }
  const time_t t = static_cast<time_t>(seconds);
  struct tm utc {};
  gmtime_r(&t, &utc);
  char buffer[96];  // room for any int fields, to keep -Wformat-truncation quiet
  std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  return buffer;
}

int64_t now_unix_ms() {
  struct timespec ts {};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

class FileAuditLog final : public AuditLog {
 public:
  explicit FileAuditLog(std::string path) : path_(std::move(path)) {}

  // AuditLog
  bool record(const AuditRecord& record, std::string* error) override;

 private:
  bool append(const std::string& line, std::string* error);

  const std::string path_;
  // One record at a time: the torn-line and short-write handling below
  // looks at the end of the file, which another thread's append would move.
  std::mutex mutex_;
};

bool FileAuditLog::record(const AuditRecord& record, std::string* error) {
  const std::string line = audit_line(record, now_unix_ms());
  std::lock_guard<std::mutex> lock(mutex_);
  return append(line, error);
}

bool FileAuditLog::append(const std::string& line, std::string* error) {
  auto fail = [&](int saved_errno, const std::string& what) {
    *error = what + " " + path_ + ": " + std::strerror(saved_errno);
    return false;
  };
  const int fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    const int e = errno;
    return fail(e, "cannot open audit log");
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    return fail(e, "cannot stat audit log");
  }
  const off_t size_before = st.st_size;
  // A last line without its '\n' is a torn record (see the header): start
  // on a line of our own so this record parses.
  std::string_view out = line;
  std::string with_newline;
  if (size_before > 0) {
    char last = '\n';
    if (::pread(fd, &last, 1, size_before - 1) == 1 && last != '\n') {
      with_newline = "\n" + line;
      out = with_newline;
    }
  }

  ssize_t written;
  do {
    written = ::write(fd, out.data(), out.size());
  } while (written < 0 && errno == EINTR);
  if (written < 0) {
    const int e = errno;
    return fail(e, "cannot write audit log");
  }
  if (static_cast<size_t>(written) < out.size()) {
    // Disk full (or a file size limit) in the middle of the line: take the
    // fragment back off rather than leave half a record behind.
    const int truncated = ::ftruncate(fd, size_before);
    *error = "cannot write audit log " + path_ + ": short write (" + std::to_string(written) +
             " of " + std::to_string(out.size()) + " bytes; disk full?)" +
             (truncated == 0 ? "" : ", and the partial line could not be removed");
    return false;
  }
  if (::fdatasync(fd) != 0) {
    const int e = errno;
    return fail(e, "cannot sync audit log");
  }
  // A file this record created (or found empty) is only durable once its
  // directory entry is: sync the directory too, once.
  if (size_before == 0) {
    const size_t slash = path_.rfind('/');
    const std::string directory =
        slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
    const int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 || ::fsync(dir_fd) != 0) {
      const int e = errno;
      if (dir_fd >= 0) ::close(dir_fd);
      return fail(e, "cannot sync the directory of audit log");
    }
    ::close(dir_fd);
  }
  return true;
}

}  // namespace

std::string audit_line(const AuditRecord& record, int64_t unix_ms) {
  JsonWriter w;
  w.begin_object()
      .field("time", std::string_view(rfc3339_utc(unix_ms)))
      .field("peer", std::string_view(valid_utf8(record.peer)))
      .field("method", std::string_view(valid_utf8(record.method)))
      .field("service", std::string_view(valid_utf8(record.service)))
      .field("revision_before", static_cast<uint64_t>(record.revision_before))
      .field("revision_after", static_cast<uint64_t>(record.revision_after))
      .field("accepted", record.accepted)
      .field("dry_run", record.dry_run)
      .field("summary", std::string_view(valid_utf8(record.summary)))
      .end_object();
  return w.str() + "\n";
}

std::unique_ptr<AuditLog> make_file_audit_log(const std::string& path) {
  return std::make_unique<FileAuditLog>(path);
}

}  // namespace sluice::control
