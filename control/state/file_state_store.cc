// SPDX-License-Identifier: Apache-2.0
#include "control/state/file_state_store.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "control/config/json_syntax.h"
#include "control/config/service_json.h"
#include "control/config/service_mapping.h"
#include "sluice/v1/state.pb.h"

namespace sluice::control {
namespace {

std::string errno_text(int error) { return std::strerror(error); }

// 0, or errno: for calls that report failure as -1.
int errno_of(int result) { return result == 0 ? 0 : errno; }

// Closes the descriptor when it goes out of scope (error paths included).
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting close()'s error (it can carry a write error).
  int close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

// mkdir -p, mode 0750 for what it creates. An existing path that is not a
// directory is an error.
bool make_directories(const std::string& directory, std::string* error) {
  struct stat st {};
  if (::stat(directory.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return true;
    *error = "cannot use state directory " + directory + ": " + errno_text(ENOTDIR);
    return false;
  }
  if (const int e = errno; e != ENOENT) {
    *error = "cannot use state directory " + directory + ": " + errno_text(e);
    return false;
  }
  // Parents first; EEXIST is fine (an existing parent, or a racing mkdir),
  // and a parent that is a file makes the next mkdir fail with ENOTDIR.
  for (size_t slash = directory.find('/', 1);; slash = directory.find('/', slash + 1)) {
    const std::string part = directory.substr(0, slash);
    if (const int e = errno_of(::mkdir(part.c_str(), 0750)); e != 0 && e != EEXIST) {
      *error = "cannot create state directory " + part + ": " + errno_text(e);
      return false;
    }
    if (slash == std::string::npos) return true;
  }
}

// 0, or the errno of the write that failed.
int write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

// The whole of a regular file, or nullopt with *problem set ("cannot read:
// Is a directory", ...).
std::optional<std::string> read_file(int fd, std::string* problem) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    *problem = "cannot read: " + errno_text(e);
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    *problem = "cannot read: " + errno_text(S_ISDIR(st.st_mode) ? EISDIR : EINVAL) +
               " (not a regular file)";
    return std::nullopt;
  }
  std::string text;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      const int e = errno;
      if (e == EINTR) continue;
      *problem = "cannot read: " + errno_text(e);
      return std::nullopt;
    }
    if (n == 0) return text;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxStateFileBytes) {
      *problem = "larger than " + std::to_string(kMaxStateFileBytes >> 20) + " MiB";
      return std::nullopt;
    }
  }
}

// "field: message; field: message".
std::string joined(const std::vector<engine::ConfigError>& errors) {
  std::string out;
  for (const engine::ConfigError& e : errors) {
    out += (out.empty() ? "" : "; ") + e.field + ": " + e.message;
  }
  return out;
}

class FileStateStore final : public StateStore {
 public:
  explicit FileStateStore(std::string directory)
      : directory_(std::move(directory)),
        path_(directory_ + "/" + kStateFileName),
        temp_path_(directory_ + "/" + kStateTempFileName) {}

  // StateStore
  std::optional<DesiredState> load(std::string* error) override;
  bool save(const DesiredState& state, std::string* error) override;

 private:
  std::optional<DesiredState> parse(const std::string& text, std::string* error) const;
  bool fail(std::string* error, const std::string& message) const {
    *error = message;
    return false;
  }

  const std::string directory_;
  const std::string path_;
  const std::string temp_path_;
};

std::optional<DesiredState> FileStateStore::load(std::string* error) {
  // state.json.tmp is deliberately not looked at: it is a save that never
  // reached its rename, so state.json still holds the last complete one.
  // O_NONBLOCK: a FIFO put in its place must not hang the start (it is
  // refused as not a regular file); it changes nothing for regular files.
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) return DesiredState{};  // nothing saved yet
    *error = path_ + ": cannot open: " + errno_text(e);
    return std::nullopt;
  }
  FileDescriptor file(fd);
  std::string problem;
  std::optional<std::string> text = read_file(file.get(), &problem);
  if (!text) {
    *error = path_ + ": " + problem;
    return std::nullopt;
  }
  return parse(*text, error);
}

std::optional<DesiredState> FileStateStore::parse(const std::string& text,
                                                  std::string* error) const {
  // The strict check first: protobuf's parser would take a repeated key's
  // last value or a trailing comma without a word.
  config::JsonSyntaxResult syntax = config::check_json_syntax(text);
  if (syntax.error) {
    // "document" (an empty text) is the file itself.
    const std::string& field = syntax.error->field;
    *error = path_ + ": " + (field == "document" ? "" : field + ": ") + syntax.error->message;
    return std::nullopt;
  }
  if (!syntax.root_is_object) {
    *error = path_ + ": not a JSON object (expected {\"revision\": ..., \"services\": [...]})";
    return std::nullopt;
  }
  // save() always writes the revision; a state without one was not written
  // by sluiced (or lost its head), and must not pass for revision 0.
  const auto& keys = syntax.top_level_keys;
  if (std::find(keys.begin(), keys.end(), "revision") == keys.end()) {
    *error = path_ + ": revision: missing";
    return std::nullopt;
  }

  v1::DesiredState proto;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  std::string_view body = text;
  if (body.substr(0, 3) == "\xef\xbb\xbf") body.remove_prefix(3);  // as check_json_syntax
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), &proto, options);
  if (!status.ok()) {
    const engine::ConfigError e = config::json_parse_error(std::string(status.message()));
    *error = path_ + ": " + (e.field.empty() ? e.message : e.field + ": " + e.message);
    return std::nullopt;
  }

  // The same mapping and validation as every other way services come in.
  v1::ServiceList list;
  list.mutable_services()->Swap(proto.mutable_services());
  config::MappedServices mapped = config::services_from_proto(list);
  if (!mapped.errors.empty()) {
    *error = path_ + ": " + joined(mapped.errors);
    return std::nullopt;
  }
  DesiredState state;
  state.revision = proto.revision();
  state.services = std::move(mapped.services);
  return state;
}

bool FileStateStore::save(const DesiredState& state, std::string* error) {
  v1::DesiredState proto;
  proto.set_revision(state.revision);
  v1::ServiceList list = config::services_to_proto(state.services);
  // Refuse what load() would refuse: a state that cannot be loaded back
  // would keep sluiced from starting. The callers validate before saving,
  // so this only catches their bugs, at the cost of a validation pass
  // (small next to the fsyncs).
  config::MappedServices check = config::services_from_proto(list);
  if (!check.errors.empty()) {
    return fail(error, "refusing to save a state that would not load back into " + path_ + ": " +
                           joined(check.errors) + " (" + path_ + " is unchanged)");
  }
  proto.mutable_services()->Swap(list.mutable_services());
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;  // the names operators write
  // Writes the revision even when 0 (load() requires it) and every service
  // field, so the file shows exactly what the engine runs with.
  options.always_print_primitive_fields = true;
  std::string text;
  const auto status = google::protobuf::util::MessageToJsonString(proto, &text, options);
  if (!status.ok()) {
    return fail(error, "cannot encode the state for " + path_ + ": " +
                           std::string(status.message()));
  }
  if (text.empty() || text.back() != '\n') text += '\n';

  if (!make_directories(directory_, error)) return false;

  // O_TRUNC: a state.json.tmp left by an interrupted save is overwritten.
  const int fd = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    const int e = errno;
    return fail(error, "cannot create " + temp_path_ + ": " + errno_text(e));
  }
  FileDescriptor temp(fd);
  auto temp_failed = [&](int saved_errno, const std::string& what) {
    ::unlink(temp_path_.c_str());  // best effort: load() ignores it anyway
    return fail(error, what + ": " + errno_text(saved_errno) + " (" + path_ + " is unchanged)");
  };
  if (const int e = write_all(temp.get(), text)) {
    return temp_failed(e, "cannot write " + temp_path_);
  }
  // The data must be on disk before the rename makes it state.json:
  // otherwise a power loss could leave state.json renamed but empty.
  if (const int e = errno_of(::fsync(temp.get()))) {
    return temp_failed(e, "cannot sync " + temp_path_);
  }
  if (const int e = errno_of(temp.close())) return temp_failed(e, "cannot close " + temp_path_);
  if (const int e = errno_of(::rename(temp_path_.c_str(), path_.c_str()))) {
    return temp_failed(e, "cannot rename " + temp_path_ + " to " + path_);
  }

  // The rename is durable only once the directory is synced. If that fails
  // the new state.json is in place but may not survive a crash: report it,
  // so the caller does not claim the change was saved.
  const int dir_fd = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    const int e = errno;
    return fail(error, "cannot open " + directory_ + " to sync it: " + errno_text(e) + " (" +
                           path_ + " was replaced but may not survive a crash)");
  }
  FileDescriptor dir(dir_fd);
  if (const int e = errno_of(::fsync(dir.get()))) {
    return fail(error, "cannot sync " + directory_ + ": " + errno_text(e) + " (" + path_ +
                           " was replaced but may not survive a crash)");
  }
  return true;
}

}  // namespace

std::unique_ptr<StateStore> make_file_state_store(const std::string& directory) {
  return std::make_unique<FileStateStore>(directory);
}

}  // namespace sluice::control
