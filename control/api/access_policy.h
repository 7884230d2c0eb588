// SPDX-License-Identifier: Apache-2.0
// Who may do what through the control API: a role per caller.
//
// - unix socket: operator. The socket's mode (0660) is the access control;
//   the caller is named by uid and pid (unix_peer_relay.h).
// - TCP with TLS: the client certificate, verified against the client CA,
//   is looked up among the configured identities: an operator identity may
//   read and change the configuration; a read-only identity may only read;
//   a certificate matching neither has no role and every call is refused
//   (PERMISSION_DENIED: the peer is authenticated, just not authorised).
// - TCP without TLS (--insecure): operator, for everyone who can connect.
//
// Identity syntax (exact match; DNS names ignore case):
//   subject:CN=NAME     the certificate subject's common name is NAME
//   san:DNS:NAME        a DNS subjectAltName is NAME
//   san:URI:URI         a URI subjectAltName is URI (e.g. spiffe://fleet/rollouts)
//   san:email:ADDRESS   an email subjectAltName is ADDRESS
//   san:IP:ADDRESS      an IP subjectAltName is ADDRESS (as gRPC prints it)
// No wildcards: an identity names one certificate holder.
//
// The parser is inline so that sluiced's option parsing can check the
// syntax without linking gRPC; matching a live peer is in access_policy.cc.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace grpc {
class AuthContext;
}  // namespace grpc

namespace sluice::control::api {

enum class Role { kNone, kReadOnly, kOperator };

// "operator", "read-only", "none".
const char* role_name(Role role);

struct Identity {
  enum class Kind { kCommonName, kDns, kUri, kEmail, kIp };
  Kind kind = Kind::kCommonName;
  std::string value;

  // How it is shown in audit records and errors: "CN=rollouts", "DNS:x".
  std::string label() const {
    switch (kind) {
      case Kind::kCommonName: return "CN=" + value;
      case Kind::kDns: return "DNS:" + value;
      case Kind::kUri: return "URI:" + value;
      case Kind::kEmail: return "email:" + value;
      case Kind::kIp: return "IP:" + value;
    }
    return value;
  }
  // The syntax it is written in: "subject:CN=rollouts", "san:DNS:x".
  std::string to_string() const {
    return (kind == Kind::kCommonName ? "subject:" : "san:") + label();
  }
  bool operator==(const Identity& other) const {
    return kind == other.kind && value == other.value;
  }
};

// Parses one identity (syntax above); nullopt with *error saying what is
// wrong and what is expected.
inline std::optional<Identity> parse_identity(const std::string& text, std::string* error) {
  struct Prefix {
    std::string_view prefix;
    Identity::Kind kind;
  };
  static constexpr Prefix kPrefixes[] = {
      {"subject:CN=", Identity::Kind::kCommonName}, {"san:DNS:", Identity::Kind::kDns},
      {"san:URI:", Identity::Kind::kUri},           {"san:email:", Identity::Kind::kEmail},
      {"san:IP:", Identity::Kind::kIp},
  };
  for (const Prefix& p : kPrefixes) {
    if (std::string_view(text).substr(0, p.prefix.size()) != p.prefix) continue;
    Identity identity{p.kind, text.substr(p.prefix.size())};
    if (identity.value.empty()) {
      *error = "\"" + text + "\" names no value after \"" + std::string(p.prefix) + "\"";
      return std::nullopt;
    }
    // Leading or trailing blanks are a typo in a config file, never part
    // of a name to match.
    if (identity.value.front() == ' ' || identity.value.back() == ' ' ||
        identity.value.find_first_of("\t\r\n") != std::string::npos) {
      *error = "\"" + text + "\" has blanks around or control characters in its value";
      return std::nullopt;
    }
    return identity;
  }
  *error = "\"" + text +
           "\" is not an identity: expected subject:CN=NAME, san:DNS:NAME, san:URI:URI, "
           "san:email:ADDRESS or san:IP:ADDRESS";
  return std::nullopt;
}

// What a verified client certificate says, as gRPC reports it.
struct PeerCertificate {
  std::string common_name;  // empty when the subject has none
  std::string subject;      // the whole subject, for messages
  std::vector<std::string> dns, uris, emails, ips;

  // "CN=rollouts", else the subject, else "a certificate without a subject".
  std::string label() const;
};

// The certificate of a TLS peer; nullopt when the call did not come over TLS.
std::optional<PeerCertificate> peer_certificate(const grpc::AuthContext& auth);

struct AccessPolicy {
  std::vector<Identity> operators;
  std::vector<Identity> read_only;
  // Callers on a TCP listener without TLS are operators (--insecure). When
  // false such a call is refused: there should be none.
  bool insecure_tcp_allowed = false;

  // The role of a certificate: operator when any operator identity matches
  // (even if a read-only one does too), read-only when a read-only identity
  // matches, otherwise none. *matched (if given) receives the identity.
  Role role_of(const PeerCertificate& certificate, const Identity** matched = nullptr) const;
};

// Whether `identity` names `certificate`.
bool matches(const Identity& identity, const PeerCertificate& certificate);

}  // namespace sluice::control::api
