// SPDX-License-Identifier: Apache-2.0
// GetStats and WatchEvents as sluiced wires them, through its unix socket:
// the real control core (ControlCoreImpl over the file state store and
// audit log, in a temporary directory), a DataplaneWatcher thread, and the
// fake dataplane of tests/mocks, whose two workers are real decision
// engines fed frames by the test. No root, no DPDK: what differs from
// sluiced is only where the frames come from.
//
// Checked: traffic named by service, pool and backend after frames went
// through the engines; a SetWeights announced as a ConfigChanged event,
// then acknowledged per worker and for all; a circuit opening; bad input;
// API-layer refusals in the audit log; streams ending at shutdown.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <grpc/grpc.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "control/api/server.h"
#include "control/core/control_core_impl.h"
#include "control/core/dataplane_watcher.h"
#include "control/state/file_audit_log.h"
#include "control/state/file_state_store.h"
#include "tests/dataplane/engine/frame_builder.h"
#include "tests/mocks/control/fake_dataplane_sink.h"

namespace sluice::control {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Holds gRPC's library for the process (see tests/control/api/hold_grpc.h).
const int kGrpcHeld = (grpc_init(), 0);

constexpr const char* kWeb = R"({
  "name": "web", "vip": "10.77.100.10", "port": 80,
  "pools": [
    {"name": "stable", "weight": 90,
     "backends": [{"address": "10.77.0.21"}, {"address": "10.77.0.22"}]},
    {"name": "canary", "weight": 10, "backends": [{"address": "10.77.0.31"}]}
  ],
  "circuit": {"consecutive_failures": 1, "max_ejected_percent": 100}
})";

v1::Service web_service() {
  v1::Service s;
  const auto status = google::protobuf::util::JsonStringToMessage(kWeb, &s);
  EXPECT_TRUE(status.ok()) << status.message();
  return s;
}

std::vector<uint8_t> syn(uint16_t port) {
  return engine::test::FrameBuilder()
      .eth()
      .ipv4("198.51.100.7", "10.77.100.10")
      .tcp(port, 80, SLUICE_TCP_SYN)
      .build();
}

class StatsEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sluice-stats-events-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    store_ = make_file_state_store(dir_ + "/state");
    std::filesystem::create_directory(dir_ + "/state");
    audit_ = make_file_audit_log(dir_ + "/audit.log");
    ControlCoreOptions options;
    options.seed = {7, 8};
    options.forwarding.source_v4 = *engine::IpAddress::parse("10.0.0.2");
    core_ = std::make_unique<ControlCoreImpl>(options, *store_, *audit_, dataplane_);
    std::string error;
    ASSERT_TRUE(core_->start(&error)) << error;
    watcher_ = std::make_unique<DataplaneWatcher>(dataplane_, core_->events(),
                                                  [this] { return core_->snapshot(); });
    watcher_->start(milliseconds(10));
    service_ = std::make_unique<api::ControlServiceImpl>(*core_);
    api::ServerOptions server_options;
    server_options.unix_socket_path = dir_ + "/sluiced.sock";
    server_ = api::start_control_server(*service_, server_options, &error);
    ASSERT_NE(server_, nullptr) << error;
    stub_ = v1::Control::NewStub(
        grpc::CreateChannel("unix:" + server_options.unix_socket_path,
                            grpc::InsecureChannelCredentials()));
  }
  // sluiced's order: watcher, events, then the server.
  void TearDown() override {
    if (watcher_) watcher_->stop();
    if (core_) core_->events().close();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + seconds(2));
    std::filesystem::remove_all(dir_);
  }

  void deadline(grpc::ClientContext& context) {
    context.set_deadline(std::chrono::system_clock::now() + seconds(10));
  }
  uint64_t apply_web() {
    v1::ApplyServiceRequest request;
    *request.mutable_service() = web_service();
    request.mutable_wait()->set_enabled(true);
    grpc::ClientContext context;
    deadline(context);
    v1::MutationResponse response;
    const grpc::Status status = stub_->ApplyService(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.revision();
  }
  // The next event of `reader` (fails the test when the stream ends).
  v1::Event next(grpc::ClientReader<v1::Event>& reader) {
    v1::Event e;
    EXPECT_TRUE(reader.Read(&e)) << "the stream ended";
    return e;
  }
  // A WatchEvents stream from `start` (live when nullopt), once subscribed.
  std::unique_ptr<grpc::ClientReader<v1::Event>> open_watch(grpc::ClientContext& context,
                                                       std::optional<uint64_t> start) {
    context.set_deadline(std::chrono::system_clock::now() + seconds(20));
    v1::WatchEventsRequest request;
    if (start) request.set_start_sequence(*start);
    auto reader = stub_->WatchEvents(&context, request);
    reader->WaitForInitialMetadata();
    return reader;
  }
  // Reads until every worker has acknowledged `revision` (the watcher
  // reports it a moment after the change).
  void skip_until_applied(grpc::ClientReader<v1::Event>& reader, uint64_t revision) {
    v1::Event e;
    while (reader.Read(&e)) {
      if (e.has_revision_applied() && e.revision_applied().generation() >= revision) return;
    }
    ADD_FAILURE() << "the stream ended before revision " << revision << " was applied";
  }

  std::string dir_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<AuditLog> audit_;
  fakes::FakeDataplaneSink dataplane_{2};
  std::unique_ptr<ControlCoreImpl> core_;
  std::unique_ptr<DataplaneWatcher> watcher_;
  std::unique_ptr<api::ControlServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Control::Stub> stub_;
};

// Frames through the engines show up by service, pool and backend, per
// worker and summed, and the counts survive a weight change.
TEST_F(StatsEventsTest, GetStatsAfterTraffic) {
  ASSERT_EQ(apply_web(), 1u);
  size_t bytes = 0;
  for (uint16_t port = 1000; port < 1100; ++port) {
    auto frame = syn(port);
    bytes += frame.size();
    ASSERT_EQ(dataplane_.process(port % 2, frame).verdict.action, engine::Action::kForward);
  }
  auto arp = engine::test::FrameBuilder().eth().arp().build();
  dataplane_.process(0, arp);

  grpc::ClientContext context;
  deadline(context);
  v1::GetStatsResponse r;
  ASSERT_TRUE(stub_->GetStats(&context, v1::GetStatsRequest(), &r).ok());
  EXPECT_EQ(r.revision(), 1u);
  EXPECT_EQ(r.dataplane(), "fake");
  EXPECT_GT(r.uptime_ms(), 0u);
  ASSERT_EQ(r.workers_size(), 2);
  auto counter = [](const google::protobuf::RepeatedPtrField<v1::Counter>& list,
                    const std::string& name) -> uint64_t {
    for (const v1::Counter& c : list) {
      if (c.name() == name) return c.value();
    }
    ADD_FAILURE() << "no counter " << name;
    return 0;
  };
  EXPECT_EQ(counter(r.workers(0).stats().counters(), "new_flows"), 50u);
  EXPECT_EQ(counter(r.workers(1).stats().counters(), "new_flows"), 50u);
  EXPECT_EQ(counter(r.workers(0).stats().counters(), "to_host"), 1u);
  EXPECT_EQ(counter(r.total().counters(), "forwarded"), 100u);
  EXPECT_EQ(counter(r.total().drops(), "fragment"), 0u);
  EXPECT_EQ(counter(r.total().dataplane(), "frames_processed"), 101u);
  ASSERT_EQ(r.services_size(), 1);
  const v1::ServiceStats& web = r.services(0);
  EXPECT_EQ(web.traffic().packets(), 100u);
  EXPECT_EQ(web.traffic().bytes(), bytes);
  uint64_t pools = 0, backends = 0;
  for (const v1::PoolStats& p : web.pools()) {
    pools += p.traffic().packets();
    for (const v1::BackendStats& b : p.backends()) {
      backends += b.traffic().packets();
      EXPECT_EQ(b.circuits_size(), 2);
    }
  }
  EXPECT_EQ(pools, 100u);
  EXPECT_EQ(backends, 100u);
  EXPECT_GT(web.pools(0).traffic().packets(), web.pools(1).traffic().packets());  // 90 / 10

  // A weight change keeps the counts (counters are kept by name).
  v1::SetWeightsRequest weights;
  weights.set_service("web");
  (*weights.mutable_weights())["canary"] = 50;
  weights.mutable_wait()->set_enabled(true);
  grpc::ClientContext set_context;
  deadline(set_context);
  v1::MutationResponse set;
  ASSERT_TRUE(stub_->SetWeights(&set_context, weights, &set).ok());
  grpc::ClientContext again;
  deadline(again);
  v1::GetStatsRequest only_web;
  only_web.set_service("web");
  ASSERT_TRUE(stub_->GetStats(&again, only_web, &r).ok());
  EXPECT_EQ(r.revision(), 2u);
  EXPECT_EQ(r.services(0).traffic().packets(), 100u);
  EXPECT_EQ(r.services(0).pools(1).weight(), 50u);
}

// Bad input: an unknown service, a name that cannot be one.
TEST_F(StatsEventsTest, GetStatsBadInput) {
  apply_web();
  v1::GetStatsRequest request;
  request.set_service("api");
  grpc::ClientContext context;
  deadline(context);
  v1::GetStatsResponse r;
  grpc::Status status = stub_->GetStats(&context, request, &r);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "no service named \"api\"");
  request.set_service("web;rm");
  grpc::ClientContext bad;
  deadline(bad);
  status = stub_->GetStats(&bad, request, &r);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("service: \"web;rm\" is not a service name"));
}

// SetWeights through the socket: the stream sees the change, then each
// worker adopting it, then the revision applied everywhere.
TEST_F(StatsEventsTest, WatchEventsAfterSetWeights) {
  apply_web();
  // From the start: ApplyService's change, then its acknowledgements.
  grpc::ClientContext watch;
  auto reader = open_watch(watch, 1);
  const auto& metadata = watch.GetServerInitialMetadata();
  ASSERT_NE(metadata.find("sluice-next-sequence"), metadata.end());
  const v1::Event applied_first = next(*reader);
  ASSERT_TRUE(applied_first.has_config_changed()) << applied_first.DebugString();
  EXPECT_EQ(applied_first.config_changed().method(), "ApplyService");
  skip_until_applied(*reader, 1);
  // Hold the workers, to see one acknowledge before the other.
  dataplane_.set_follow(false);

  v1::SetWeightsRequest weights;
  weights.set_service("web");
  (*weights.mutable_weights())["stable"] = 50;
  (*weights.mutable_weights())["canary"] = 50;
  grpc::ClientContext set_context;
  deadline(set_context);
  v1::MutationResponse set;
  ASSERT_TRUE(stub_->SetWeights(&set_context, weights, &set).ok());
  ASSERT_EQ(set.revision(), 2u);

  const v1::Event changed = next(*reader);
  ASSERT_TRUE(changed.has_config_changed()) << changed.DebugString();
  EXPECT_EQ(changed.config_changed().revision(), 2u);
  EXPECT_EQ(changed.config_changed().method(), "SetWeights");
  EXPECT_EQ(changed.config_changed().service(), "web");
  EXPECT_EQ(changed.config_changed().summary(),
            "weights stable=90 canary=10 -> stable=50 canary=50");
  EXPECT_THAT(changed.config_changed().peer(), StartsWith("unix:"));

  dataplane_.advance(1);
  const v1::Event worker1 = next(*reader);
  ASSERT_TRUE(worker1.has_worker_applied()) << worker1.DebugString();
  EXPECT_EQ(worker1.worker_applied().worker(), 1u);
  EXPECT_EQ(worker1.worker_applied().generation(), 2u);
  EXPECT_EQ(worker1.sequence(), changed.sequence() + 1);

  dataplane_.advance(0);
  const v1::Event worker0 = next(*reader);
  ASSERT_TRUE(worker0.has_worker_applied()) << worker0.DebugString();
  EXPECT_EQ(worker0.worker_applied().worker(), 0u);
  const v1::Event applied = next(*reader);
  ASSERT_TRUE(applied.has_revision_applied()) << applied.DebugString();
  EXPECT_EQ(applied.revision_applied().generation(), 2u);
  EXPECT_EQ(applied.revision_applied().workers(), 2u);
  watch.TryCancel();
}

// A backend failing its connects on one worker: its circuit opens there,
// announced with its names.
TEST_F(StatsEventsTest, WatchEventsSeesACircuitOpen) {
  apply_web();
  grpc::ClientContext watch;
  auto reader = open_watch(watch, 1);
  skip_until_applied(*reader, 1);
  auto first = syn(4000);
  const engine::Decision d = dataplane_.process(0, first);
  const std::string failing = d.service->backends[d.backend].address.to_string();
  dataplane_.set_now_ms(600);
  auto retry = syn(4000);
  dataplane_.process(0, retry);

  const v1::Event e = next(*reader);
  ASSERT_TRUE(e.has_circuit_changed()) << e.DebugString();
  EXPECT_EQ(e.circuit_changed().service(), "web");
  EXPECT_EQ(e.circuit_changed().backend(), failing);
  EXPECT_EQ(e.circuit_changed().worker(), 0u);
  EXPECT_EQ(e.circuit_changed().from(), v1::CIRCUIT_STATE_CLOSED);
  EXPECT_EQ(e.circuit_changed().to(), v1::CIRCUIT_STATE_OPEN);
  watch.TryCancel();

  // GetStats agrees: open on worker 0 only.
  grpc::ClientContext context;
  deadline(context);
  v1::GetStatsResponse r;
  ASSERT_TRUE(stub_->GetStats(&context, v1::GetStatsRequest(), &r).ok());
  int open = 0;
  for (const v1::PoolStats& p : r.services(0).pools()) {
    for (const v1::BackendStats& b : p.backends()) {
      if (b.address() != failing) continue;
      EXPECT_THAT(b.circuits(), ::testing::ElementsAre(v1::CIRCUIT_STATE_OPEN,
                                                       v1::CIRCUIT_STATE_CLOSED));
      ++open;
    }
  }
  EXPECT_EQ(open, 1);
}

// A late client replays from a sequence number; one beyond the next is refused.
TEST_F(StatsEventsTest, WatchEventsFromASequence) {
  apply_web();
  grpc::ClientContext watch;
  auto reader = open_watch(watch, 1);
  const v1::Event first = next(*reader);
  EXPECT_EQ(first.sequence(), 1u);
  ASSERT_TRUE(first.has_config_changed());
  EXPECT_EQ(first.config_changed().method(), "ApplyService");
  watch.TryCancel();

  grpc::ClientContext too_far;
  deadline(too_far);
  v1::WatchEventsRequest beyond;
  beyond.set_start_sequence(1000);
  auto refused = stub_->WatchEvents(&too_far, beyond);
  v1::Event e;
  EXPECT_FALSE(refused->Read(&e));
  const grpc::Status status = refused->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("start_sequence: 1000 is beyond"));
}

// Shutting down as sluiced does ends an open stream with OK.
TEST_F(StatsEventsTest, ShutdownEndsStreams) {
  grpc::ClientContext watch;
  auto reader = open_watch(watch, std::nullopt);
  const auto start = std::chrono::steady_clock::now();
  TearDown();
  server_.reset();
  watcher_.reset();
  core_.reset();
  v1::Event e;
  EXPECT_FALSE(reader->Read(&e));
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(2));
}

// A change the API layer refuses (it cannot map the request) is audited
// like the ones the core refuses.
TEST_F(StatsEventsTest, ApiRefusalsAreAudited) {
  apply_web();
  v1::SetWeightsRequest weights;
  weights.set_service("web");
  (*weights.mutable_weights())["canary"] = 2000000;
  grpc::ClientContext context;
  deadline(context);
  v1::MutationResponse response;
  EXPECT_EQ(stub_->SetWeights(&context, weights, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  std::ifstream in(dir_ + "/audit.log");
  std::string line, last;
  int lines = 0;
  while (std::getline(in, line)) {
    last = line;
    ++lines;
  }
  EXPECT_EQ(lines, 2);
  EXPECT_THAT(last, HasSubstr(R"("method":"SetWeights","service":"web","revision_before":1,)"
                              R"("revision_after":1,"accepted":false,"dry_run":false,)"
                              R"("summary":"weights[\"canary\"]: 2000000 is out of range 0..1000000")"));
  EXPECT_THAT(last, HasSubstr(R"("peer":"unix:)"));
}

}  // namespace
}  // namespace sluice::control
