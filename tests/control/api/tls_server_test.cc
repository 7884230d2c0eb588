// SPDX-License-Identifier: Apache-2.0
// start_control_server's TCP listener on 127.0.0.1 with throwaway
// certificates (test_certificates.h): the handshake refuses clients without
// a trusted certificate; the AccessPolicy gives each certificate its role
// (operator, read-only, none); --insecure TCP marks its callers; bad TLS
// files are named at start-up.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "control/api/server.h"
#include "tests/control/api/hold_grpc.h"
#include "tests/control/api/test_certificates.h"
#include "tests/control/api/test_services.h"
#include "control/config/service_mapping.h"
#include "tests/mocks/control/fake_control_core.h"

namespace sluice::control::api {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

// Refuses changes from callers with may_mutate false, as ControlCoreImpl
// does (which also audits the refusal; control_core_impl_test covers
// that), and passes everything else to the fake core.
class RoleCheckingCore final : public ControlCore {
 public:
  explicit RoleCheckingCore(fakes::FakeControlCore& fake) : fake_(fake) {}
  std::vector<Caller> refused() const {
    std::lock_guard lock(mutex_);
    return refused_;
  }

  MutationResult apply_service(const Caller& c, const engine::ServiceConfig& s,
                               const MutationOptions& o) override {
    return refuse(c) ? denied() : fake_.apply_service(c, s, o);
  }
  MutationResult delete_service(const Caller& c, const std::string& n,
                                const MutationOptions& o) override {
    return refuse(c) ? denied() : fake_.delete_service(c, n, o);
  }
  MutationResult set_weights(const Caller& c, const std::string& s,
                             const std::map<std::string, uint32_t>& w,
                             const MutationOptions& o) override {
    return refuse(c) ? denied() : fake_.set_weights(c, s, w, o);
  }
  MutationResult set_backend_state(const Caller& c, const std::string& s,
                                   const engine::IpAddress& b, engine::BackendState st,
                                   const MutationOptions& o) override {
    return refuse(c) ? denied() : fake_.set_backend_state(c, s, b, st, o);
  }
  std::optional<engine::ServiceConfig> get_service(const std::string& n,
                                                   uint64_t* r) const override {
    return fake_.get_service(n, r);
  }
  std::vector<engine::ServiceConfig> list_services(uint64_t* r) const override {
    return fake_.list_services(r);
  }
  ControlStatus status() const override { return fake_.status(); }
  FlowAnswer explain_flow(const FlowQuery& q, uint64_t* revision) const override {
    return fake_.explain_flow(q, revision);
  }
  StatsResult stats(const std::string& service) const override { return fake_.stats(service); }
  DrainResult drain_status(const DrainQuery& query) const override {
    return fake_.drain_status(query);
  }
  SubscribeResult watch_events(std::optional<uint64_t> start) override {
    return fake_.watch_events(start);
  }
  void audit_refusal(const Caller& c, const std::string& method, const std::string& service,
                     bool dry_run, const std::string& reason) override {
    fake_.audit_refusal(c, method, service, dry_run, reason);
  }

 private:
  bool refuse(const Caller& caller) {
    if (caller.may_mutate) return false;
    std::lock_guard lock(mutex_);
    refused_.push_back(caller);
    return true;
  }
  static MutationResult denied() {
    MutationResult r;
    r.error = CallError{ErrorCode::kPermissionDenied, "may not change the configuration"};
    return r;
  }

  fakes::FakeControlCore& fake_;
  mutable std::mutex mutex_;
  std::vector<Caller> refused_;
};

class TlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_openssl()) GTEST_SKIP() << "the openssl command is missing (Debian package openssl)";
    char pattern[] = "/tmp/sluice-tls-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    certs_ = std::make_unique<TestCertificates>(dir_);
    ASSERT_TRUE(certs_->ok()) << read_text_file(dir_ + "/openssl.log");
    options_.unix_socket_path = dir_ + "/sluiced.sock";
    options_.tcp.emplace();
    options_.tcp->address = "127.0.0.1:0";
    options_.tcp->tls = ServerOptions::TlsFiles{certs_->cert_path("server"),
                                                certs_->key_path("server"),
                                                certs_->cert_path("ca")};
    policy_.operators = {{Identity::Kind::kCommonName, "rollouts"},
                         {Identity::Kind::kUri, "spiffe://fleet/deployer"}};
    policy_.read_only = {{Identity::Kind::kCommonName, "viewer"}};
    v1::ServiceList list;
    *list.add_services() = service_from_text(kWebService);
    fake_.add_service(config::services_from_proto(list).services.at(0));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Starts the server; false with *error when it refuses.
  bool start(std::string* error = nullptr) {
    service_ = std::make_unique<ControlServiceImpl>(core_, policy_);
    std::string message;
    server_ = start_control_server(*service_, options_, &message, &port_);
    if (error) *error = message;
    return server_ != nullptr;
  }
  // A stub over TLS, trusting the test CA, with client certificate `client`
  // ("" for none; "impostor" is signed by another CA).
  std::unique_ptr<v1::Control::Stub> tls_stub(const std::string& client) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = certs_->cert("ca");
    if (!client.empty()) {
      ssl.pem_cert_chain = certs_->cert(client);
      ssl.pem_private_key = certs_->key(client);
    }
    return v1::Control::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::SslCredentials(ssl)));
  }
  std::unique_ptr<v1::Control::Stub> insecure_stub() {
    return v1::Control::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                                    grpc::InsecureChannelCredentials()));
  }
  static grpc::Status get_status(v1::Control::Stub& stub) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetStatusResponse response;
    return stub.GetStatus(&context, v1::GetStatusRequest(), &response);
  }
  static grpc::Status set_canary(v1::Control::Stub& stub, uint32_t weight) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::SetWeightsRequest request;
    request.set_service("web");
    (*request.mutable_weights())["canary"] = weight;
    v1::MutationResponse response;
    return stub.SetWeights(&context, request, &response);
  }

  std::string dir_;
  std::unique_ptr<TestCertificates> certs_;
  fakes::FakeControlCore fake_;
  RoleCheckingCore core_{fake_};
  AccessPolicy policy_;
  ServerOptions options_;
  std::unique_ptr<ControlServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// Port 0 picks a free port, which start_control_server reports.
TEST_F(TlsServerTest, ReportsTheSelectedPort) {
  std::string error;
  ASSERT_TRUE(start(&error)) << error;
  EXPECT_GT(port_, 0);
  EXPECT_LE(port_, 65535);
}

// Without a client certificate the handshake fails: nothing reaches the service.
TEST_F(TlsServerTest, NoClientCertificateRefused) {
  ASSERT_TRUE(start());
  EXPECT_EQ(get_status(*tls_stub("")).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(set_canary(*tls_stub(""), 50).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(fake_.calls().empty());
  EXPECT_TRUE(core_.refused().empty());
}

// A certificate from a CA the server does not trust (same CN as an operator) is refused.
TEST_F(TlsServerTest, UntrustedClientCertificateRefused) {
  ASSERT_TRUE(start());
  EXPECT_EQ(set_canary(*tls_stub("impostor"), 50).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(fake_.calls().empty());
}

// Plain TCP to the TLS port gets nowhere.
TEST_F(TlsServerTest, PlainTcpToTlsListenerRefused) {
  ASSERT_TRUE(start());
  EXPECT_EQ(get_status(*insecure_stub()).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(fake_.calls().empty());
}

// An operator's change reaches the core, marked with its identity and role.
TEST_F(TlsServerTest, OperatorMayMutate) {
  ASSERT_TRUE(start());
  auto stub = tls_stub("rollouts");
  ASSERT_TRUE(set_canary(*stub, 50).ok());
  const auto calls = fake_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "set_weights");
  EXPECT_TRUE(calls[0].caller.may_mutate);
  EXPECT_THAT(calls[0].caller.peer,
              MatchesRegex("tls:CN=rollouts \\(operator\\) from ipv4:127\\.0\\.0\\.1:[0-9]+"));
  EXPECT_EQ(fake_.revision(), 2u);
}

// An operator named by a URI SAN (its CN is not configured) may mutate.
TEST_F(TlsServerTest, OperatorBySanUri) {
  ASSERT_TRUE(start());
  ASSERT_TRUE(set_canary(*tls_stub("deployer"), 30).ok());
  const auto calls = fake_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_THAT(calls[0].caller.peer,
              StartsWith("tls:URI:spiffe://fleet/deployer (operator) from ipv4:127.0.0.1:"));
}

// A DNS SAN matches ignoring case; with only that identity the holder is read-only.
TEST_F(TlsServerTest, ReadOnlyBySanDns) {
  policy_.operators = {{Identity::Kind::kCommonName, "rollouts"}};
  policy_.read_only = {{Identity::Kind::kDns, "deploy.example.com"}};
  ASSERT_TRUE(start());
  auto stub = tls_stub("deployer");
  EXPECT_TRUE(get_status(*stub).ok());
  EXPECT_EQ(set_canary(*stub, 30).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_EQ(fake_.refusals().size(), 1u);
  EXPECT_THAT(fake_.refusals()[0].caller.peer,
              StartsWith("tls:DNS:deploy.example.com (read-only)"));
}

// A read-only identity reads; its change is refused before the core (the
// API authorises first) and audited: PERMISSION_DENIED, nothing changed.
TEST_F(TlsServerTest, ReadOnlyMayReadButNotMutate) {
  ASSERT_TRUE(start());
  auto stub = tls_stub("viewer");
  EXPECT_TRUE(get_status(*stub).ok());
  grpc::ClientContext context;
  v1::ListServicesResponse list;
  ASSERT_TRUE(stub->ListServices(&context, v1::ListServicesRequest(), &list).ok());
  ASSERT_EQ(list.services_size(), 1);
  EXPECT_EQ(list.services(0).name(), "web");

  const grpc::Status status = set_canary(*stub, 50);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(fake_.calls().empty());
  EXPECT_EQ(fake_.revision(), 1u);
  EXPECT_TRUE(core_.refused().empty());
  const auto refused = fake_.refusals();
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_FALSE(refused[0].caller.may_mutate);
  EXPECT_EQ(refused[0].caller.peer_key, "tls:CN=viewer (read-only)");
  EXPECT_EQ(refused[0].reason, refused[0].caller.peer + " may not change the configuration");
  EXPECT_THAT(refused[0].caller.peer,
              MatchesRegex("tls:CN=viewer \\(read-only\\) from ipv4:127\\.0\\.0\\.1:[0-9]+"));
}

// A verified certificate named by no identity is refused every call, reads included.
TEST_F(TlsServerTest, UnknownIdentityRefusedEveryCall) {
  ASSERT_TRUE(start());
  auto stub = tls_stub("stranger");
  const grpc::Status read = get_status(*stub);
  EXPECT_EQ(read.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(read.error_message(),
            "the client certificate CN=stranger is not named by any operator or read-only "
            "identity of sluiced");
  EXPECT_EQ(set_canary(*stub, 50).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(fake_.calls().empty());
  EXPECT_TRUE(core_.refused().empty());
}

// The unix socket keeps serving operators beside the TLS listener.
TEST_F(TlsServerTest, UnixSocketStillServesOperators) {
  ASSERT_TRUE(start());
  auto stub = v1::Control::NewStub(grpc::CreateChannel("unix:" + options_.unix_socket_path,
                                                       grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(set_canary(*stub, 40).ok());
  const auto calls = fake_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(calls[0].caller.may_mutate);
  EXPECT_THAT(calls[0].caller.peer, StartsWith("unix:"));
}

// --insecure: plain TCP, every caller an operator, marked as such.
TEST_F(TlsServerTest, InsecureTcpMarksCallers) {
  options_.tcp->tls.reset();
  policy_ = AccessPolicy{};
  policy_.insecure_tcp_allowed = true;
  ASSERT_TRUE(start());
  ASSERT_TRUE(set_canary(*insecure_stub(), 50).ok());
  const auto calls = fake_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(calls[0].caller.may_mutate);
  EXPECT_THAT(calls[0].caller.peer, MatchesRegex("ipv4:127\\.0\\.0\\.1:[0-9]+ \\(insecure TCP\\)"));
}

// Plain TCP that the policy does not allow is refused, reads included.
TEST_F(TlsServerTest, PlainTcpRefusedWithoutInsecurePolicy) {
  options_.tcp->tls.reset();
  ASSERT_TRUE(start());
  auto stub = insecure_stub();
  const grpc::Status status = get_status(*stub);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(), "calls over TCP need TLS with a client certificate");
  EXPECT_EQ(set_canary(*stub, 50).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(fake_.calls().empty());
}

// Missing or wrong TLS files are named, and the start fails before the socket is touched.
TEST_F(TlsServerTest, BadTlsFilesNamed) {
  std::string error;
  options_.tcp->tls->cert_path = dir_ + "/missing.pem";
  EXPECT_FALSE(start(&error));
  EXPECT_EQ(error, "TLS certificate " + dir_ + "/missing.pem: cannot read: No such file or directory");
  EXPECT_FALSE(std::filesystem::exists(options_.unix_socket_path));

  options_.tcp->tls->cert_path = certs_->cert_path("server");
  options_.tcp->tls->key_path = certs_->cert_path("server");  // a certificate, not a key
  EXPECT_FALSE(start(&error));
  EXPECT_EQ(error, "TLS key " + certs_->cert_path("server") + ": no PEM PRIVATE KEY in it");

  options_.tcp->tls->key_path = certs_->key_path("server");
  options_.tcp->tls->client_ca_path = certs_->key_path("ca");  // a key, not a certificate
  EXPECT_FALSE(start(&error));
  EXPECT_EQ(error, "TLS client CA " + certs_->key_path("ca") + ": no PEM CERTIFICATE in it");
  EXPECT_FALSE(std::filesystem::exists(options_.unix_socket_path));
}

// A key that does not belong to the certificate fails the start.
TEST_F(TlsServerTest, MismatchedKeyRefused) {
  options_.tcp->tls->key_path = certs_->key_path("viewer");
  std::string error;
  EXPECT_FALSE(start(&error));
  EXPECT_THAT(error, HasSubstr("127.0.0.1:0"));
}

// A port something else listens on fails the start, naming the address.
TEST_F(TlsServerTest, PortInUseRefused) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t length = sizeof(a);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length), 0);
  options_.tcp->address = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  std::string error;
  EXPECT_FALSE(start(&error));
  EXPECT_THAT(error, HasSubstr(options_.tcp->address));
  ::close(fd);
}

}  // namespace
}  // namespace sluice::control::api
