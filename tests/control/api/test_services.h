// SPDX-License-Identifier: Apache-2.0
// Services the API tests send and expect, in protobuf text format.
#pragma once

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <string>

#include "sluice/v1/service.pb.h"

namespace sluice::control::api {

// A valid service with two pools and a source rule.
inline constexpr const char* kWebService = R"pb(
  name: "web" vip: "10.77.100.10" port: 80
  pools { name: "stable" weight: 90 backends { address: "10.77.0.21" } backends { address: "10.77.0.22" } }
  pools { name: "canary" weight: 10 backends { address: "10.77.0.31" } }
  rules { source_cidr: "10.20.0.0/16" pool: "canary" }
)pb";

// A second one: UDP on IPv6.
inline constexpr const char* kDnsService = R"pb(
  name: "dns" vip: "2001:db8::53" port: 53 protocol: PROTOCOL_UDP
  pools { name: "blue" weight: 1 backends { address: "2001:db8:1::1" } }
)pb";

inline v1::Service service_from_text(const std::string& text) {
  v1::Service s;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &s)) << text;
  return s;
}

}  // namespace sluice::control::api
