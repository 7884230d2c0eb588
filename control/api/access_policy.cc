// SPDX-License-Identifier: Apache-2.0
#include "control/api/access_policy.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

#include <algorithm>
#include <cctype>

namespace sluice::control::api {
namespace {

std::vector<std::string> values_of(const grpc::AuthContext& auth, const char* property) {
  std::vector<std::string> values;
  for (const grpc::string_ref& v : auth.FindPropertyValues(property)) {
    values.emplace_back(v.data(), v.size());
  }
  return values;
}

bool equal_ignoring_case(const std::string& a, const std::string& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

bool contains(const std::vector<std::string>& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

}  // namespace

const char* role_name(Role role) {
  switch (role) {
    case Role::kOperator: return "operator";
    case Role::kReadOnly: return "read-only";
    case Role::kNone: return "none";
  }
  return "none";
}

std::string PeerCertificate::label() const {
  if (!common_name.empty()) return "CN=" + common_name;
  if (!subject.empty()) return subject;
  return "a certificate without a subject";
}

std::optional<PeerCertificate> peer_certificate(const grpc::AuthContext& auth) {
  const std::vector<std::string> type =
      values_of(auth, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  if (type.empty() || type.front() != GRPC_SSL_TRANSPORT_SECURITY_TYPE) return std::nullopt;
  PeerCertificate c;
  const std::vector<std::string> cn = values_of(auth, GRPC_X509_CN_PROPERTY_NAME);
  if (!cn.empty()) c.common_name = cn.front();
  const std::vector<std::string> subject = values_of(auth, GRPC_X509_SUBJECT_PROPERTY_NAME);
  if (!subject.empty()) c.subject = subject.front();
  // The typed properties, not x509_subject_alternative_name: that one
  // mixes every kind, so a URI SAN could pass for a DNS name.
  c.dns = values_of(auth, GRPC_PEER_DNS_PROPERTY_NAME);
  c.uris = values_of(auth, GRPC_PEER_URI_PROPERTY_NAME);
  c.emails = values_of(auth, GRPC_PEER_EMAIL_PROPERTY_NAME);
  c.ips = values_of(auth, GRPC_PEER_IP_PROPERTY_NAME);
  return c;
}

bool matches(const Identity& identity, const PeerCertificate& certificate) {
  switch (identity.kind) {
    case Identity::Kind::kCommonName:
      return !certificate.common_name.empty() && certificate.common_name == identity.value;
    case Identity::Kind::kDns:
      return std::any_of(certificate.dns.begin(), certificate.dns.end(),
                         [&](const std::string& d) { return equal_ignoring_case(d, identity.value); });
    case Identity::Kind::kUri: return contains(certificate.uris, identity.value);
    case Identity::Kind::kEmail: return contains(certificate.emails, identity.value);
    case Identity::Kind::kIp: return contains(certificate.ips, identity.value);
  }
  return false;
}

Role AccessPolicy::role_of(const PeerCertificate& certificate, const Identity** matched) const {
  for (const auto& [identities, role] :
       {std::pair{&operators, Role::kOperator}, std::pair{&read_only, Role::kReadOnly}}) {
    for (const Identity& identity : *identities) {
      if (!matches(identity, certificate)) continue;
      if (matched) *matched = &identity;
      return role;
    }
  }
  if (matched) *matched = nullptr;
  return Role::kNone;
}

}  // namespace sluice::control::api
