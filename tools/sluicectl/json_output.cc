// SPDX-License-Identifier: Apache-2.0
#include "tools/sluicectl/json_output.h"

#include <google/protobuf/util/json_util.h>

namespace sluice::sluicectl {
namespace {

std::string compact_or_indented(const google::protobuf::Message& message, bool indent) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = indent;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  // Cannot fail: the control messages hold no Any fields.
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

std::string to_json(const google::protobuf::Message& message) {
  return compact_or_indented(message, true) + "\n";
}

std::string to_json_line(const google::protobuf::Message& message) {
  return compact_or_indented(message, false) + "\n";
}

std::string to_json_array(const std::vector<const google::protobuf::Message*>& messages) {
  std::string out = "[";
  for (size_t i = 0; i < messages.size(); ++i) {
    out += (i ? ",\n " : "") + compact_or_indented(*messages[i], false);
  }
  return out + "]\n";
}

}  // namespace sluice::sluicectl
