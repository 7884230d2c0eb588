// SPDX-License-Identifier: Apache-2.0
// A strict JSON syntax check, run before protobuf's JSON parser.
//
// protobuf's parser is lenient where a hand-edited file should not be: it
// accepts trailing commas, and when a key is repeated the later value wins
// silently (a pasted `"weight": 10` under an older `"weight": 90` would
// change a split without a word). This checker enforces RFC 8259 with no
// extensions, rejects repeated keys, and reports the line and column of the
// first problem, which protobuf's messages do not.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/engine/config_validate.h"

namespace sluice::control::config {

struct JsonSyntaxResult {
  // The first problem, or nullopt when the text is well-formed. Syntax
  // errors name their place as the field ("line 3, column 17"); a repeated
  // key names its JSON path ("services[0].pools[1].weight"); an empty (or
  // all-blank) text is {"document", "is empty"}.
  std::optional<engine::ConfigError> error;
  // Keys of the top-level object, in order (empty when the root is not an
  // object), so a caller can tell which message the document holds.
  std::vector<std::string> top_level_keys;
  bool root_is_object = false;
};

// Nesting deeper than this is an error (recursion stays bounded).
inline constexpr int kMaxJsonDepth = 64;

// Checks `text`; a leading UTF-8 byte order mark is skipped.
JsonSyntaxResult check_json_syntax(std::string_view text);

}  // namespace sluice::control::config
