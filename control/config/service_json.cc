// SPDX-License-Identifier: Apache-2.0
#include "control/config/service_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "control/config/json_syntax.h"
#include "control/config/service_mapping.h"
#include "sluice/v1/service.pb.h"

namespace sluice::control::config {
namespace {

using engine::ConfigError;

// What a protobuf type name stands for, in the words of a JSON file.
std::string expected_for(const std::string& type) {
  if (type == "TYPE_UINT32") return "a whole number 0..4294967295";
  if (type == "TYPE_STRING") return "a string";
  if (type == "TYPE_BOOL") return "true or false";
  constexpr std::string_view kUrlPrefix = "type.googleapis.com/";
  if (type.rfind(kUrlPrefix, 0) == 0) {
    const std::string name = type.substr(kUrlPrefix.size());
    const auto* pool = google::protobuf::DescriptorPool::generated_pool();
    if (const auto* e = pool->FindEnumTypeByName(name)) {
      std::string names;
      for (int i = 0; i < e->value_count(); ++i) {
        if (e->value(i)->number() == 0) continue;  // *_UNSPECIFIED: leave the field out instead
        names += (names.empty() ? "" : ", ") + e->value(i)->name();
      }
      return "one of " + names;
    }
    if (pool->FindMessageTypeByName(name)) return "an object";
  }
  return type;
}

// The path of a field of a lone Service, as if it were services[0].
std::string as_first_service(const std::string& field) {
  if (field.empty()) return "services[0]";
  return field[0] == '[' ? "services[0]" + field : "services[0]." + field;
}

}  // namespace

// Turns protobuf's parse status message into a field-path error:
//   "(services[0].protocol): invalid value \"TCP\" for type type.googleapis.com/..."
//   "(services[0]) bogus: Cannot find field."
//   "bogus: Cannot find field."   (a key of the root object)
ConfigError json_parse_error(const std::string& status_message) {
  std::string message = status_message.substr(0, status_message.find('\n'));
  std::string field;
  if (!message.empty() && message[0] == '(') {
    const size_t close = message.find(')');
    if (close != std::string::npos) {
      field = message.substr(1, close - 1);
      message.erase(0, close + 1);
      if (message.rfind(": ", 0) == 0) message.erase(0, 2);
      if (message.rfind(' ', 0) == 0) message.erase(0, 1);
    }
  }
  constexpr std::string_view kUnknown = ": Cannot find field.";
  if (message.size() > kUnknown.size() &&
      message.compare(message.size() - kUnknown.size(), kUnknown.size(), kUnknown) == 0) {
    const std::string key = message.substr(0, message.size() - kUnknown.size());
    field = field.empty() ? key : field + "." + key;
    return {field, "unknown field"};
  }
  constexpr std::string_view kInvalid = "invalid value ";
  const size_t for_type = message.rfind(" for type ");
  if (message.rfind(kInvalid, 0) == 0 && for_type != std::string::npos) {
    const std::string value = message.substr(kInvalid.size(), for_type - kInvalid.size());
    const std::string type = message.substr(for_type + 10);
    return {field, "invalid value " + value + "; expected " + expected_for(type)};
  }
  return {field, message};
}

ServicesLoadResult load_services_json(std::string_view json_text) {
  ServicesLoadResult result;
  JsonSyntaxResult syntax = check_json_syntax(json_text);
  if (syntax.error) {
    result.errors.push_back(std::move(*syntax.error));
    return result;
  }
  if (!syntax.root_is_object) {
    result.errors.push_back(
        {"document", "must be a JSON object: one service, or {\"services\": [...]}"});
    return result;
  }
  const bool is_list = std::find(syntax.top_level_keys.begin(), syntax.top_level_keys.end(),
                                 "services") != syntax.top_level_keys.end();

  v1::ServiceList list;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a misspelt key must not be ignored
  // Protobuf wants the text as a StringPiece; it never holds a BOM here
  // (check_json_syntax skipped it, so skip it again).
  std::string_view text = json_text;
  if (text.substr(0, 3) == "\xef\xbb\xbf") text.remove_prefix(3);
  const google::protobuf::StringPiece piece(text.data(), text.size());
  const auto status = is_list
                          ? google::protobuf::util::JsonStringToMessage(piece, &list, options)
                          : google::protobuf::util::JsonStringToMessage(
                                piece, list.add_services(), options);
  if (!status.ok()) {
    ConfigError e = json_parse_error(std::string(status.message()));
    if (!is_list) e.field = as_first_service(e.field);
    result.errors.push_back(std::move(e));
    return result;
  }
  MappedServices mapped = services_from_proto(list);
  result.services = std::move(mapped.services);
  result.errors = std::move(mapped.errors);
  return result;
}

ServicesLoadResult load_services_json_file(const std::string& path) {
  ServicesLoadResult result;
  auto fail = [&](std::string message) {
    result.errors.push_back({path, std::move(message)});
    return result;
  };
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return fail(std::string("cannot open: ") + std::strerror(errno));
  std::string text;
  char buffer[65536];
  while (true) {
    const size_t n = std::fread(buffer, 1, sizeof(buffer), file.get());
    text.append(buffer, n);
    if (text.size() > kMaxServicesFileBytes) {
      return fail("larger than " + std::to_string(kMaxServicesFileBytes >> 20) + " MiB");
    }
    if (n < sizeof(buffer)) {
      // A directory opens fine and fails here with EISDIR.
      if (std::ferror(file.get())) return fail(std::string("cannot read: ") + std::strerror(errno));
      break;
    }
  }
  result = load_services_json(text);
  for (ConfigError& e : result.errors) {
    e.field = e.field == "document" ? path : path + ": " + e.field;
  }
  return result;
}

std::string services_to_json(const std::vector<engine::ServiceConfig>& services) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;  // the names operators write
  std::string out;
  // Cannot fail: the messages hold no Any fields.
  (void)google::protobuf::util::MessageToJsonString(services_to_proto(services), &out, options);
  return out.back() == '\n' ? out : out + "\n";
}

}  // namespace sluice::control::config
