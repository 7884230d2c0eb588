// SPDX-License-Identifier: Apache-2.0
#include "control/api/field_limits.h"

#include <google/protobuf/descriptor.h>

namespace sluice::control::api {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

size_t limit_of(const std::string& field) {
  if (field == "name" || field == "service" || field == "pool" || field == "fallback_pool") {
    return kMaxNameBytes;
  }
  if (field == "target") return kMaxTargetBytes;
  if (field == "http_path" || field == "http_host") return kMaxHttpFieldBytes;
  return kMaxStringBytes;
}

void check(const std::string& path, size_t size, size_t limit, const char* what,
           std::vector<engine::ConfigError>& errors) {
  if (size <= limit) return;
  errors.push_back({path, std::string(what) + std::to_string(size) + " bytes, over the limit of " +
                              std::to_string(limit)});
}

// Depth is bounded by the proto's own nesting (gRPC's parser refuses
// recursion past 100 levels before this runs, and sluice's messages nest 4 deep).
void walk(const Message& message, const std::string& prefix,
          std::vector<engine::ConfigError>& errors) {
  const Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* f : fields) {
    const std::string path = prefix.empty() ? f->name() : prefix + "." + f->name();
    if (f->is_map()) {
      // Map keys are names (the pools of `weights`); the values are numbers
      // here, but a string value would be checked like any other field.
      const FieldDescriptor* key = f->message_type()->map_key();
      const FieldDescriptor* value = f->message_type()->map_value();
      for (int i = 0; i < reflection->FieldSize(message, f); ++i) {
        const Message& entry = reflection->GetRepeatedMessage(message, f, i);
        const Reflection* er = entry.GetReflection();
        if (key->type() == FieldDescriptor::TYPE_STRING) {
          check(path, er->GetString(entry, key).size(), kMaxNameBytes, "a key of ", errors);
        }
        if (value->type() == FieldDescriptor::TYPE_STRING) {
          check(path, er->GetString(entry, value).size(), limit_of(f->name()), "a value of ",
                errors);
        }
      }
    } else if (f->type() == FieldDescriptor::TYPE_STRING ||
               f->type() == FieldDescriptor::TYPE_BYTES) {
      const size_t limit = limit_of(f->name());
      if (f->is_repeated()) {
        std::string scratch;
        for (int i = 0; i < reflection->FieldSize(message, f); ++i) {
          check(path + "[" + std::to_string(i) + "]",
                reflection->GetRepeatedStringReference(message, f, i, &scratch).size(), limit, "",
                errors);
        }
      } else {
        std::string scratch;
        check(path, reflection->GetStringReference(message, f, &scratch).size(), limit, "",
              errors);
      }
    } else if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, f); ++i) {
          walk(reflection->GetRepeatedMessage(message, f, i),
               path + "[" + std::to_string(i) + "]", errors);
        }
      } else {
        walk(reflection->GetMessage(message, f), path, errors);
      }
    }
  }
}

}  // namespace

std::vector<engine::ConfigError> oversized_fields(const google::protobuf::Message& request) {
  std::vector<engine::ConfigError> errors;
  walk(request, "", errors);
  return errors;
}

}  // namespace sluice::control::api
