// SPDX-License-Identifier: Apache-2.0
// The audit log under abuse, end to end: the real server over TLS (the
// throwaway certificates of test_certificates.h: "stranger" has no role,
// "viewer" is read-only, "rollouts" an operator), the real ControlCoreImpl
// and the real file audit log. Huge names from callers without the right
// to change anything add a bounded amount to audit.log; a loop of 10,000
// refused calls writes the burst and a summary; control characters sent in
// every string field come back, and go into the log, escaped.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "control/api/server.h"
#include "control/core/control_core_impl.h"
#include "control/state/audit_text.h"
#include "control/state/file_audit_log.h"
#include "tests/control/api/test_certificates.h"
#include "tests/control/api/test_services.h"
#include "tests/mocks/control/memory_state_store.h"
#include "tests/mocks/control/null_dataplane_sink.h"

namespace sluice::control::api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

size_t size_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// No control byte but the '\n' ending each line, and no JSON escape of a
// C0 control either (printable() escaped it before JSON did, so a reader
// decoding the JSON gets no control character).
void expect_no_control_characters(const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') continue;
    ASSERT_FALSE(c < 0x20 || c == 0x7f) << "byte " << int(c) << " at " << i;
  }
  EXPECT_THAT(text, Not(::testing::ContainsRegex("[^\\\\]\\\\u00[01]")));
}

class AuditAbuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_openssl()) GTEST_SKIP() << "the openssl command is missing (Debian package openssl)";
    char pattern[] = "/tmp/sluice-audit-abuse-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    certs_ = std::make_unique<TestCertificates>(dir_);
    ASSERT_TRUE(certs_->ok());
    audit_path_ = dir_ + "/audit.log";
    audit_ = make_file_audit_log(audit_path_);
    ControlCoreOptions core_options;
    core_options.forwarding.source_v4 = *engine::IpAddress::parse("10.0.0.2");
    core_ = std::make_unique<ControlCoreImpl>(core_options, store_, *audit_, dataplane_);
    std::string error;
    ASSERT_TRUE(core_->start(&error)) << error;
    AccessPolicy policy;
    policy.operators = {{Identity::Kind::kCommonName, "rollouts"}};
    policy.read_only = {{Identity::Kind::kCommonName, "viewer"}};
    service_ = std::make_unique<ControlServiceImpl>(*core_, policy);
    ServerOptions options;
    options.unix_socket_path = dir_ + "/sluiced.sock";
    options.tcp.emplace();
    options.tcp->address = "127.0.0.1:0";
    options.tcp->tls = ServerOptions::TlsFiles{certs_->cert_path("server"),
                                               certs_->key_path("server"), certs_->cert_path("ca")};
    server_ = start_control_server(*service_, options, &error, &port_);
    ASSERT_TRUE(server_) << error;
    // The operator's one service, so that refusals are not "no such service".
    v1::ApplyServiceRequest apply;
    *apply.mutable_service() = service_from_text(kWebService);
    const grpc::Status applied = call_apply(*stub("rollouts"), apply);
    ASSERT_TRUE(applied.ok()) << applied.error_message();
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<v1::Control::Stub> stub(const std::string& client) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = certs_->cert("ca");
    ssl.pem_cert_chain = certs_->cert(client);
    ssl.pem_private_key = certs_->key(client);
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(8 << 20);
    return v1::Control::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(port_), grpc::SslCredentials(ssl), args));
  }
  static grpc::Status call_apply(v1::Control::Stub& stub, const v1::ApplyServiceRequest& r) {
    grpc::ClientContext context;
    v1::MutationResponse response;
    return stub.ApplyService(&context, r, &response);
  }
  static grpc::Status set_weight(v1::Control::Stub& stub, const std::string& service,
                                 const std::string& pool) {
    grpc::ClientContext context;
    v1::SetWeightsRequest request;
    request.set_service(service);
    (*request.mutable_weights())[pool] = 50;
    v1::MutationResponse response;
    return stub.SetWeights(&context, request, &response);
  }
  static grpc::Status delete_service(v1::Control::Stub& stub, const std::string& name) {
    grpc::ClientContext context;
    v1::DeleteServiceRequest request;
    request.set_name(name);
    v1::MutationResponse response;
    return stub.DeleteService(&context, request, &response);
  }

  std::string dir_;
  std::unique_ptr<TestCertificates> certs_;
  std::string audit_path_;
  fakes::MemoryStateStore store_;
  fakes::NullDataplaneSink dataplane_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<ControlCoreImpl> core_;
  std::unique_ptr<ControlServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// Names of 2 MB (under gRPC's limit) from a caller with no role and a
// read-only one: refused, and each refusal one bounded line. Over the
// limit (4 MB) gRPC refuses the request before sluiced reads it.
TEST_F(AuditAbuseTest, HugeNamesAddABoundedAmount) {
  const size_t before = size_of(audit_path_);
  const std::string huge(2000000, 'x');
  for (const char* client : {"stranger", "viewer"}) {
    auto s = stub(client);
    EXPECT_EQ(set_weight(*s, huge, "canary").error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(delete_service(*s, huge).error_code(), grpc::StatusCode::PERMISSION_DENIED);
    v1::ApplyServiceRequest apply;
    *apply.mutable_service() = service_from_text(kWebService);
    apply.mutable_service()->set_name(huge);
    EXPECT_EQ(call_apply(*s, apply).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  // An operator's huge name: refused by its size, the message naming field and limit.
  const grpc::Status status = delete_service(*stub("rollouts"), huge);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "name: 2000000 bytes, over the limit of 63");
  const size_t grown = size_of(audit_path_) - before;
  EXPECT_LE(grown, 7 * kMaxAuditLine);
  EXPECT_LE(grown, 7 * 700u) << read_all(audit_path_);  // in fact about 500 bytes a line

  const size_t at = size_of(audit_path_);
  const std::string over(4000000, 'x');  // under gRPC's default 4 MiB
  EXPECT_EQ(delete_service(*stub("stranger"), over).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(size_of(audit_path_), at);
}

// 10,000 refused calls in a loop from the read-only caller, each on its
// own connection's port: the per-peer limit writes the burst, and the
// operator's change in the middle is recorded; at close one line
// summarises the rest.
TEST_F(AuditAbuseTest, TenThousandRefusalsAreSummarised) {
  auto viewer = stub("viewer");
  const size_t lines_before = 2;  // the operator's service
  for (int i = 0; i < 10000; ++i) {
    ASSERT_EQ(set_weight(*viewer, "web", "canary").error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
    if (i == 5000) {
      ASSERT_TRUE(set_weight(*stub("rollouts"), "web", "canary").ok());
    }
  }
  std::string text = read_all(audit_path_);
  const auto count = [](const std::string& t, const std::string& what) {
    size_t n = 0;
    for (size_t at = t.find(what); at != std::string::npos; at = t.find(what, at + 1)) ++n;
    return n;
  };
  const size_t refusals = count(text, "\"accepted\":false");
  // The burst (20) and one more line per second the loop took.
  EXPECT_GE(refusals, 20u);
  EXPECT_LE(refusals, 20u + 60);
  EXPECT_EQ(count(text, "\"accepted\":true"), lines_before);
  server_->Shutdown();
  server_.reset();
  service_.reset();
  core_.reset();
  audit_.reset();  // closing writes the pending summary
  text = read_all(audit_path_);
  EXPECT_EQ(count(text, kSuppressedMethod), 1u);
  EXPECT_THAT(text, ::testing::ContainsRegex("suppressed [0-9]+ refusal lines from "
                                             "tls:CN=viewer \\(read-only\\) in [0-9]+ s"));
}

// Control characters in every string field of every change: the error
// names the field with the characters escaped, and neither the status
// message nor the audit log holds a raw one.
TEST_F(AuditAbuseTest, ControlCharactersEscapedEverywhere) {
  const std::string evil = std::string("a\nb\r\x1b[2J\x01\x7f\xc2\x85", 12) + std::string(1, '\0');
  auto s = stub("rollouts");
  std::vector<grpc::Status> statuses;
  v1::ApplyServiceRequest apply;
  v1::Service* service = apply.mutable_service();
  *service = service_from_text(kWebService);
  service->set_name(evil);
  service->set_vip(evil);
  service->set_fallback_pool(evil);
  service->mutable_pools(0)->set_name(evil);
  service->mutable_pools(0)->mutable_backends(0)->set_address(evil);
  service->mutable_rules(0)->set_source_cidr(evil);
  service->mutable_rules(0)->set_pool(evil);
  service->mutable_health_check()->set_http_path(evil);
  service->mutable_health_check()->set_http_host(evil);
  statuses.push_back(call_apply(*s, apply));
  statuses.push_back(set_weight(*s, evil, evil));
  statuses.push_back(set_weight(*s, "web", evil));
  statuses.push_back(delete_service(*s, evil));
  {
    grpc::ClientContext context;
    v1::SetBackendStateRequest request;
    request.set_service(evil);
    request.set_address(evil);
    request.set_state(v1::BACKEND_STATE_DRAINING);
    v1::MutationResponse response;
    statuses.push_back(s->SetBackendState(&context, request, &response));
  }
  {
    grpc::ClientContext context;
    v1::GetServiceRequest request;
    request.set_name(evil);
    v1::GetServiceResponse response;
    statuses.push_back(s->GetService(&context, request, &response));
  }
  for (const grpc::Status& status : statuses) {
    EXPECT_FALSE(status.ok());
    expect_no_control_characters(status.error_message());
    EXPECT_THAT(status.error_message(), HasSubstr("a\\nb\\r\\x1b[2J\\x01\\x7f\\u0085\\x00"))
        << status.error_message();
  }
  // Refused by a read-only caller too (its refusal line carries the name).
  EXPECT_FALSE(set_weight(*stub("viewer"), evil, evil).ok());
  expect_no_control_characters(read_all(audit_path_));
  EXPECT_THAT(read_all(audit_path_), HasSubstr("a\\\\nb\\\\r\\\\x1b[2J"));
}

// A caller on the unix socket is named by uid and pid (SO_PEERCRED through
// the relay of unix_peer_relay.h) in the audit log; its refusals are
// limited per uid.
TEST_F(AuditAbuseTest, UnixCallersNamedByCredentials) {
  auto local = v1::Control::NewStub(
      grpc::CreateChannel("unix:" + dir_ + "/sluiced.sock", grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(set_weight(*local, "web", "canary").ok());
  EXPECT_EQ(set_weight(*local, "web", "nope").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const std::string who =
      "unix:uid=" + std::to_string(::getuid()) + ",pid=" + std::to_string(::getpid());
  const std::string text = read_all(audit_path_);
  EXPECT_THAT(text, HasSubstr("\"peer\":\"" + who + "\",\"method\":\"SetWeights\",\"service\":"
                              "\"web\",\"revision_before\":1,\"revision_after\":2,\"accepted\":true"));
  EXPECT_THAT(text, HasSubstr("\"peer\":\"" + who + "\",\"method\":\"SetWeights\",\"service\":"
                              "\"web\",\"revision_before\":2,\"revision_after\":2,\"accepted\":false"));
  // The relay's private directory holds gRPC's listener and nothing else.
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    if (e.path().filename().string().rfind(".sluiced-", 0) != 0) continue;
    for (const auto& inner : std::filesystem::directory_iterator(e.path())) {
      EXPECT_EQ(inner.path().filename(), "grpc");
      ++entries;
    }
  }
  EXPECT_EQ(entries, 1u);
}

// The relay holds at most kMaxConnections connections (a thread each): one
// more is closed at once, and once they go, callers are served again.
TEST_F(AuditAbuseTest, UnixConnectionsBounded) {
  const std::string path = dir_ + "/sluiced.sock";
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  std::vector<int> held;
  for (size_t i = 0; i < UnixPeerRelay::kMaxConnections; ++i) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
    held.push_back(fd);
  }
  // A fresh channel each time, waiting for it to connect until the deadline.
  const auto status_within = [&](int ms) {
    auto local = v1::Control::NewStub(
        grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
    v1::GetStatusResponse response;
    return local->GetStatus(&context, v1::GetStatusRequest(), &response);
  };
  EXPECT_FALSE(status_within(300).ok());
  for (int fd : held) ::close(fd);
  EXPECT_TRUE(status_within(10000).ok());
}

}  // namespace
}  // namespace sluice::control::api
