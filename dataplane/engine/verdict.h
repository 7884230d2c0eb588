// SPDX-License-Identifier: Apache-2.0
// What the engine decides for each packet, and why it drops one.
//
// Drop reasons are declared once, as an X-macro, so the enum, the names that
// counters and logs print, and the count of reasons can never disagree.
#pragma once

#include <cstdint>
#include <string_view>

#include "dataplane/engine/drop_reasons.h"

namespace sluice::engine {

// The list: drop_reasons.h (plain C, shared with the XDP program).

enum class DropReason : uint8_t {
#define SLUICE_X(name, c_name, str, help) name = SLUICE_DROP_##c_name,
  SLUICE_DROP_REASONS(SLUICE_X)
#undef SLUICE_X
};

inline constexpr int kDropReasonCount = 0
#define SLUICE_X(name, c_name, str, help) +1
    SLUICE_DROP_REASONS(SLUICE_X)
#undef SLUICE_X
    ;
static_assert(kDropReasonCount == SLUICE_DROP_REASON_COUNT);

// The printed name of a reason ("truncated-ip").
inline constexpr std::string_view drop_reason_name(DropReason r) {
  switch (r) {
#define SLUICE_X(name, c_name, str, help) \
  case DropReason::name:                   \
    return str;
    SLUICE_DROP_REASONS(SLUICE_X)
#undef SLUICE_X
  }
  return "unknown";
}

enum class Action : uint8_t {
  kForward,  // transmit the (rewritten) frame on the port it came from
  kHost,     // not for the load balancer: hand to the kernel (ARP, own address)
  kDrop,     // discard; the reason says why
};

struct Verdict {
  Action action = Action::kDrop;
  DropReason reason = DropReason::kNone;
};

}  // namespace sluice::engine
