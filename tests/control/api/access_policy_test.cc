// SPDX-License-Identifier: Apache-2.0
// Identity syntax (parse_identity), matching a certificate, and the role an
// AccessPolicy gives it; no network (tls_server_test covers live peers).
#include "control/api/access_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::control::api {
namespace {

using ::testing::HasSubstr;
using Kind = Identity::Kind;

class AccessPolicyTest : public ::testing::Test {
 protected:
  static Identity parsed(const std::string& text) {
    std::string error;
    std::optional<Identity> identity = parse_identity(text, &error);
    EXPECT_TRUE(identity.has_value()) << text << ": " << error;
    return identity.value_or(Identity{});
  }
  static std::string error_of(const std::string& text) {
    std::string error;
    EXPECT_FALSE(parse_identity(text, &error).has_value()) << text;
    return error;
  }

  // CN=viewer; DNS SANs; a URI SAN.
  PeerCertificate certificate_{"viewer", "CN=viewer,O=ops", {"Lb1.Example.com", "lb1"},
                               {"spiffe://fleet/viewer"}, {"ops@example.com"}, {"10.0.0.7"}};
};

// Every form parses to its kind and value, and prints back the same.
TEST_F(AccessPolicyTest, ParsesEveryForm) {
  const struct {
    const char* text;
    Kind kind;
    const char* value;
    const char* label;
  } cases[] = {
      {"subject:CN=rollouts", Kind::kCommonName, "rollouts", "CN=rollouts"},
      {"subject:CN=a b=c", Kind::kCommonName, "a b=c", "CN=a b=c"},
      {"san:DNS:lb1.example.com", Kind::kDns, "lb1.example.com", "DNS:lb1.example.com"},
      {"san:URI:spiffe://fleet/x", Kind::kUri, "spiffe://fleet/x", "URI:spiffe://fleet/x"},
      {"san:email:ops@example.com", Kind::kEmail, "ops@example.com", "email:ops@example.com"},
      {"san:IP:10.0.0.7", Kind::kIp, "10.0.0.7", "IP:10.0.0.7"},
  };
  for (const auto& c : cases) {
    const Identity identity = parsed(c.text);
    EXPECT_EQ(identity.kind, c.kind) << c.text;
    EXPECT_EQ(identity.value, c.value) << c.text;
    EXPECT_EQ(identity.label(), c.label) << c.text;
    EXPECT_EQ(identity.to_string(), c.text);
  }
}

// Unknown prefixes, wrong case, empty values and stray blanks are refused with the syntax.
TEST_F(AccessPolicyTest, RefusesMalformed) {
  for (const char* text : {"", "rollouts", "CN=rollouts", "subject:rollouts", "subject:O=x",
                           "san:rollouts", "san:dns:x", "SAN:DNS:x", "san:DNS", "cn:rollouts"}) {
    EXPECT_THAT(error_of(text), HasSubstr("expected subject:CN=NAME, san:DNS:NAME")) << text;
  }
  EXPECT_EQ(error_of("subject:CN="), "\"subject:CN=\" names no value after \"subject:CN=\"");
  EXPECT_EQ(error_of("san:URI:"), "\"san:URI:\" names no value after \"san:URI:\"");
  EXPECT_THAT(error_of("subject:CN=rollouts "), HasSubstr("blanks"));
  EXPECT_THAT(error_of("subject:CN= rollouts"), HasSubstr("blanks"));
  EXPECT_THAT(error_of("san:DNS:a\tb"), HasSubstr("control characters"));
}

// Each kind matches its own field only; DNS ignores case, the rest is exact.
TEST_F(AccessPolicyTest, Matching) {
  EXPECT_TRUE(matches({Kind::kCommonName, "viewer"}, certificate_));
  EXPECT_FALSE(matches({Kind::kCommonName, "Viewer"}, certificate_));
  EXPECT_FALSE(matches({Kind::kCommonName, "view"}, certificate_));
  EXPECT_TRUE(matches({Kind::kDns, "lb1.example.com"}, certificate_));
  EXPECT_TRUE(matches({Kind::kDns, "LB1"}, certificate_));
  EXPECT_FALSE(matches({Kind::kDns, "viewer"}, certificate_));  // the CN is not a DNS SAN
  EXPECT_TRUE(matches({Kind::kUri, "spiffe://fleet/viewer"}, certificate_));
  EXPECT_FALSE(matches({Kind::kUri, "SPIFFE://fleet/viewer"}, certificate_));
  EXPECT_FALSE(matches({Kind::kDns, "spiffe://fleet/viewer"}, certificate_));
  EXPECT_TRUE(matches({Kind::kEmail, "ops@example.com"}, certificate_));
  EXPECT_TRUE(matches({Kind::kIp, "10.0.0.7"}, certificate_));
  EXPECT_FALSE(matches({Kind::kIp, "10.0.0.70"}, certificate_));
  EXPECT_FALSE(matches({Kind::kCommonName, "x"}, PeerCertificate{}));
}

// Operator wins over read-only; no match is kNone; *matched names the identity.
TEST_F(AccessPolicyTest, Roles) {
  AccessPolicy policy;
  const Identity* matched = nullptr;
  EXPECT_EQ(policy.role_of(certificate_, &matched), Role::kNone);
  EXPECT_EQ(matched, nullptr);

  policy.read_only = {{Kind::kCommonName, "viewer"}};
  EXPECT_EQ(policy.role_of(certificate_, &matched), Role::kReadOnly);
  ASSERT_NE(matched, nullptr);
  EXPECT_EQ(matched->label(), "CN=viewer");

  policy.operators = {{Kind::kCommonName, "rollouts"}, {Kind::kUri, "spiffe://fleet/viewer"}};
  EXPECT_EQ(policy.role_of(certificate_, &matched), Role::kOperator);
  ASSERT_NE(matched, nullptr);
  EXPECT_EQ(matched->label(), "URI:spiffe://fleet/viewer");

  EXPECT_EQ(policy.role_of(PeerCertificate{"stranger", "CN=stranger", {}, {}, {}, {}}),
            Role::kNone);
  EXPECT_STREQ(role_name(Role::kOperator), "operator");
  EXPECT_STREQ(role_name(Role::kReadOnly), "read-only");
  EXPECT_STREQ(role_name(Role::kNone), "none");
}

// A certificate's label prefers the CN, then the subject.
TEST_F(AccessPolicyTest, CertificateLabel) {
  EXPECT_EQ(certificate_.label(), "CN=viewer");
  EXPECT_EQ((PeerCertificate{"", "O=ops", {}, {}, {}, {}}).label(), "O=ops");
  EXPECT_EQ(PeerCertificate{}.label(), "a certificate without a subject");
}

}  // namespace
}  // namespace sluice::control::api
