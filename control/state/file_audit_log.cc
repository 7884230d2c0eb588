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
#include "control/state/audit_text.h"
#include "control/state/refusal_limiter.h"

namespace sluice::control {
namespace {

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

uint32_t steady_ms() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint32_t>(static_cast<uint64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000);
}

// The line that stands for refusals the limiter held back.
AuditRecord summary_record(const RefusalLimiter::Summary& s) {
  AuditRecord r;
  r.peer = s.peer;
  r.method = kSuppressedMethod;
  r.summary = "suppressed " + std::to_string(s.suppressed) + " refusal lines from " + s.peer +
              " in " + std::to_string((s.over_ms + 999) / 1000) + " s";
  return r;
}

class FileAuditLog final : public AuditLog {
 public:
  FileAuditLog(std::string path, AuditLogOptions options)
      : path_(std::move(path)), options_(std::move(options)), limiter_(options_.refusals) {
    if (!options_.clock_ms) options_.clock_ms = steady_ms;
    if (!options_.sync_fd) options_.sync_fd = ::fdatasync;
  }
  // Refusals still held back are summarised on the way out.
  ~FileAuditLog() override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string ignored;
    for (const auto& s : limiter_.all(options_.clock_ms())) {
      append(audit_line(summary_record(s), now_unix_ms()), false, &ignored);
    }
  }

  // AuditLog
  bool record(const AuditRecord& record, std::string* error) override;

 private:
  bool append(const std::string& line, bool sync, std::string* error);

  const std::string path_;
  AuditLogOptions options_;
  // One record at a time: the torn-line and short-write handling below
  // looks at the end of the file, which another thread's append would move.
  std::mutex mutex_;
  RefusalLimiter limiter_;  // under mutex_
};

bool FileAuditLog::record(const AuditRecord& record, std::string* error) {
  const int64_t now = now_unix_ms();
  std::lock_guard<std::mutex> lock(mutex_);
  const uint32_t now_ms = options_.clock_ms();
  // Summaries whose interval ended go first, so that the file stays in
  // time order. They are refusals too: written, not synced.
  for (const auto& s : limiter_.due(now_ms)) {
    std::string ignored;
    append(audit_line(summary_record(s), now), false, &ignored);
  }
  if (record.accepted) return append(audit_line(record, now), true, error);
  // The key is bounded like the peer field, so that the table's memory is
  // bounded too.
  const std::string key =
      bounded(record.peer_key.empty() ? record.peer : record.peer_key, kMaxAuditField);
  if (!limiter_.admit(key, now_ms)) return true;  // counted, summarised later
  return append(audit_line(record, now), false, error);
}

bool FileAuditLog::append(const std::string& line, bool sync, std::string* error) {
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
  if (!sync) return true;
  if (options_.sync_fd(fd) != 0) {
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

namespace {

std::string json_line(const AuditRecord& record, int64_t unix_ms, const std::string& summary) {
  JsonWriter w;
  w.begin_object()
      .field("time", std::string_view(rfc3339_utc(unix_ms)))
      .field("peer", std::string_view(bounded(record.peer, kMaxAuditField)))
      .field("method", std::string_view(bounded(record.method, kMaxAuditField)))
      .field("service", std::string_view(bounded(record.service, kMaxAuditField)))
      .field("revision_before", static_cast<uint64_t>(record.revision_before))
      .field("revision_after", static_cast<uint64_t>(record.revision_after))
      .field("accepted", record.accepted)
      .field("dry_run", record.dry_run)
      .field("summary", std::string_view(summary))
      .end_object();
  return w.str() + "\n";
}

}  // namespace

std::string audit_line(const AuditRecord& record, int64_t unix_ms) {
  // Bounded fields: at most 3 x 256 + 1024 printable bytes, which JSON
  // escaping (only '\\' and '"' are left to escape) at most doubles, plus
  // about 200 bytes of names and numbers: under kMaxAuditLine. The check
  // below holds the cap should a field limit ever grow.
  std::string line = json_line(record, unix_ms, truncated(record.summary, kMaxAuditSummary));
  if (line.size() > kMaxAuditLine) {
    line = json_line(record, unix_ms, bounded(record.summary, 0));
  }
  return line;
}

std::unique_ptr<AuditLog> make_file_audit_log(const std::string& path, AuditLogOptions options) {
  return std::make_unique<FileAuditLog>(path, std::move(options));
}

}  // namespace sluice::control
