// SPDX-License-Identifier: Apache-2.0
// -o json: responses in the protobuf JSON form, with the proto field names
// (as in the services file) and every field written out, zeros and false
// included, so scripts need no defaults. uint64 fields are JSON strings.
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <vector>

namespace sluice::sluicectl {

// The message as indented JSON, ending in a newline.
std::string to_json(const google::protobuf::Message& message);

// The message as one line of JSON, ending in a newline (JSON Lines, for
// streams: events, stats --watch).
std::string to_json_line(const google::protobuf::Message& message);

// A JSON array of messages, ending in a newline.
std::string to_json_array(const std::vector<const google::protobuf::Message*>& messages);

}  // namespace sluice::sluicectl
