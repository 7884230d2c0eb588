// SPDX-License-Identifier: Apache-2.0
// A dataplane that refuses publications or reports a fault, seen through
// sluiced's unix socket as sluiced wires it: the real control core (file
// state store and audit log in a temporary directory) with its Reconciler
// thread, the gRPC server whose health the reconciler sets, and the fake
// dataplane of tests/mocks made to misbehave. No root, no XDP: what differs
// from sluiced on XDP is only what makes the publication fail (here the
// fake refuses; there the kernel refuses a map update).
//
// Checked: a change with --wait while publications are refused is saved
// and answered DEADLINE_EXCEEDED naming the refusal, GetStatus shows
// desired 1 / applied 0 and the refusals, health turns NOT_SERVING after
// the grace and a DataplaneHealth event says so; once the dataplane takes
// the retry, health is SERVING again, the event says converged, and a
// change with --wait is applied. A fault: UNAVAILABLE at once, NOT_SERVING,
// the fault in GetStatus.
#include <grpc/grpc.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "control/api/server.h"
#include "control/core/control_core_impl.h"
#include "control/state/file_audit_log.h"
#include "control/state/file_state_store.h"
#include "tests/control/api/health_check.h"
#include "tests/mocks/control/fake_dataplane_sink.h"

namespace sluice::control {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Holds gRPC's library for the process (see tests/control/api/hold_grpc.h).
const int kGrpcHeld = (grpc_init(), 0);

v1::Service web_service(uint32_t canary_weight) {
  v1::Service s;
  s.set_name("web");
  s.set_vip("10.77.100.10");
  s.set_port(80);
  v1::Pool* stable = s.add_pools();
  stable->set_name("stable");
  stable->set_weight(90);
  stable->add_backends()->set_address("10.77.0.21");
  v1::Pool* canary = s.add_pools();
  canary->set_name("canary");
  canary->set_weight(canary_weight);
  canary->add_backends()->set_address("10.77.0.31");
  return s;
}

class PublishRetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sluice-publish-retry-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    std::filesystem::create_directory(dir_ + "/state");
    store_ = make_file_state_store(dir_ + "/state");
    audit_ = make_file_audit_log(dir_ + "/audit.log");
    ControlCoreOptions options;
    options.seed = {7, 8};
    options.forwarding.source_v4 = *engine::IpAddress::parse("10.0.0.2");
    // sluiced's backoff, a shorter grace and poll so that the test is quick.
    options.reconciler.grace = milliseconds(200);
    options.reconciler.poll_interval = milliseconds(10);
    core_ = std::make_unique<ControlCoreImpl>(options, *store_, *audit_, dataplane_);
    std::string error;
    ASSERT_TRUE(core_->start(&error)) << error;
    core_->reconciler().start();
    service_ = std::make_unique<api::ControlServiceImpl>(*core_);
    api::ServerOptions server_options;
    server_options.unix_socket_path = dir_ + "/sluiced.sock";
    server_ = api::start_control_server(*service_, server_options, &error);
    ASSERT_NE(server_, nullptr) << error;
    // As sluiced wires it (control/daemon/main.cc).
    core_->reconciler().set_serving_listener(
        [s = server_.get()](bool serving, const std::string&) { api::set_serving(*s, serving); });
    channel_ = grpc::CreateChannel("unix:" + server_options.unix_socket_path,
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Control::NewStub(channel_);
  }
  // sluiced's order: reconciler, events, then the server.
  void TearDown() override {
    if (core_) {
      core_->reconciler().set_serving_listener(nullptr);
      core_->reconciler().stop();
      core_->events().close();
    }
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + seconds(2));
    std::filesystem::remove_all(dir_);
  }

  grpc::Status apply(uint32_t canary_weight, uint32_t wait_ms, v1::MutationResponse* response) {
    v1::ApplyServiceRequest request;
    *request.mutable_service() = web_service(canary_weight);
    request.mutable_wait()->set_enabled(true);
    request.mutable_wait()->set_timeout_ms(wait_ms);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(10));
    return stub_->ApplyService(&context, request, response);
  }
  v1::GetStatusResponse status() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(5));
    v1::GetStatusResponse response;
    EXPECT_TRUE(stub_->GetStatus(&context, v1::GetStatusRequest(), &response).ok());
    return response;
  }
  // Waits up to 5 s until grpc.health.v1 answers `expected` for "".
  bool health_becomes(const std::string& expected) {
    const auto until = std::chrono::steady_clock::now() + seconds(5);
    std::string bytes;
    while (std::chrono::steady_clock::now() < until) {
      if (test::health_check(channel_, "", &bytes).ok() && bytes == expected) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
  }
  // Every DataplaneHealth event so far.
  std::vector<v1::DataplaneHealth> health_events() {
    v1::WatchEventsRequest request;
    request.set_start_sequence(1);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + milliseconds(500));
    auto reader = stub_->WatchEvents(&context, request);
    std::vector<v1::DataplaneHealth> out;
    v1::Event e;
    while (reader->Read(&e)) {
      if (e.has_dataplane_health()) out.push_back(e.dataplane_health());
    }
    return out;
  }

  std::string dir_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<AuditLog> audit_;
  fakes::FakeDataplaneSink dataplane_{2};
  std::unique_ptr<ControlCoreImpl> core_;
  std::unique_ptr<api::ControlServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Control::Stub> stub_;
};

// Refused publications: saved but not applied, NOT_SERVING; converged once taken.
TEST_F(PublishRetryTest, RefusedThenTaken) {
  ASSERT_TRUE(health_becomes(test::kServing));
  dataplane_.fail_publications(1000000, "bpf_map_update_elem(services): Cannot allocate memory");
  v1::MutationResponse response;
  const grpc::Status refused = apply(10, 300, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(refused.error_message().find("revision 1 was saved"), std::string::npos)
      << refused.error_message();
  EXPECT_NE(refused.error_message().find("Cannot allocate memory"), std::string::npos)
      << refused.error_message();
  v1::GetStatusResponse s = status();
  EXPECT_EQ(s.revision(), 1u);
  EXPECT_EQ(s.applied_revision(), 0u);
  EXPECT_GE(s.publish_failures(), 2u);  // the first try and at least one retry in 300 ms
  EXPECT_EQ(s.publish_error(), "bpf_map_update_elem(services): Cannot allocate memory");
  ASSERT_TRUE(health_becomes(test::kNotServing));
  EXPECT_FALSE(status().serving());

  dataplane_.fail_publications(0);
  ASSERT_TRUE(health_becomes(test::kServing));  // the next retry, at most 5 s later
  s = status();
  EXPECT_TRUE(s.serving());
  EXPECT_EQ(s.applied_revision(), 1u);
  EXPECT_EQ(s.publish_error(), "");
  const std::vector<v1::DataplaneHealth> events = health_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_FALSE(events[0].serving());
  EXPECT_EQ(events[0].desired_revision(), 1u);
  EXPECT_EQ(events[0].applied_revision(), 0u);
  EXPECT_TRUE(events[1].serving());
  EXPECT_EQ(events[1].applied_revision(), 1u);

  const grpc::Status ok = apply(20, 2000, &response);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_TRUE(response.applied());
  EXPECT_EQ(response.revision(), 2u);
}

// A fault: UNAVAILABLE at once, NOT_SERVING, the fault in GetStatus; SERVING once cleared.
TEST_F(PublishRetryTest, Fault) {
  dataplane_.set_fault("XDP program on eth1 was detached");
  v1::MutationResponse response;
  const grpc::Status refused = apply(10, 5000, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(refused.error_message().find("was detached"), std::string::npos)
      << refused.error_message();
  ASSERT_TRUE(health_becomes(test::kNotServing));
  const v1::GetStatusResponse s = status();
  EXPECT_EQ(s.dataplane_fault(), "XDP program on eth1 was detached");
  EXPECT_EQ(s.not_serving_reason(), "dataplane fault: XDP program on eth1 was detached");
  dataplane_.set_fault("");
  ASSERT_TRUE(health_becomes(test::kServing));
}

}  // namespace
}  // namespace sluice::control
