// SPDX-License-Identifier: Apache-2.0
// The Control service over a fake core, through an in-process channel:
// every RPC's happy path. The refusals this layer makes itself and the
// mapping of the core's errors: control_service_refusals_test.cc.
#include "tests/control/api/control_service_fixture.h"

#include <thread>

namespace sluice::control::api {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// --- Happy paths ---

// ApplyService maps the service onto engine types and answers the new revision.
TEST_F(ControlServiceTest, ApplyServiceReachesTheCore) {
  v1::ApplyServiceRequest request;
  *request.mutable_service() = service_from_text(kWebService);
  v1::MutationResponse response;
  ASSERT_TRUE(apply(request, &response).ok());
  EXPECT_EQ(response.revision(), 1u);
  EXPECT_FALSE(response.applied());

  const auto calls = core_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "apply_service");
  EXPECT_TRUE(calls[0].caller.may_mutate);
  EXPECT_FALSE(calls[0].caller.peer.empty());
  EXPECT_FALSE(calls[0].options.dry_run);
  EXPECT_FALSE(calls[0].options.expected_revision);
  EXPECT_FALSE(calls[0].options.wait_applied_until);
  const engine::ServiceConfig& s = *calls[0].config;
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.vip, engine::IpAddress::v4(10, 77, 100, 10));
  EXPECT_EQ(s.port, 80);
  ASSERT_EQ(s.pools.size(), 2u);
  EXPECT_EQ(s.pools[0].name, "stable");
  EXPECT_EQ(s.pools[0].weight, 90u);
  EXPECT_EQ(s.pools[1].backends.at(0).address, engine::IpAddress::v4(10, 77, 0, 31));
  EXPECT_EQ(s.rules.at(0).source.to_string(), "10.20.0.0/16");
  EXPECT_EQ(s.maglev_table_size, 65537u);  // absent: the engine default
}

// dry_run and expected_revision reach the core unchanged.
TEST_F(ControlServiceTest, ApplyServicePassesDryRunAndExpectedRevision) {
  add_both();
  v1::ApplyServiceRequest request;
  *request.mutable_service() = service_from_text(kWebService);
  request.set_dry_run(true);
  request.set_expected_revision(2);
  v1::MutationResponse response;
  ASSERT_TRUE(apply(request, &response).ok());
  EXPECT_EQ(response.revision(), 2u);  // a dry run: the current revision
  const auto calls = core_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(calls[0].options.dry_run);
  EXPECT_EQ(calls[0].options.expected_revision, 2u);
  EXPECT_EQ(core_.revision(), 2u);
}

// With wait enabled the core is given a wait deadline and the answer says applied.
TEST_F(ControlServiceTest, ApplyServiceWaitsWhenAsked) {
  v1::ApplyServiceRequest request;
  *request.mutable_service() = service_from_text(kWebService);
  request.mutable_wait()->set_enabled(true);
  request.mutable_wait()->set_timeout_ms(4000);
  const auto before = steady_clock::now();
  v1::MutationResponse response;
  ASSERT_TRUE(apply(request, &response).ok());
  EXPECT_TRUE(response.applied());
  const auto calls = core_.calls();
  ASSERT_EQ(calls.size(), 1u);
  ASSERT_TRUE(calls[0].options.wait_applied_until);
  EXPECT_GE(*calls[0].options.wait_applied_until, before + milliseconds(4000));
  EXPECT_LE(*calls[0].options.wait_applied_until, steady_clock::now() + milliseconds(4000));
}

// The call's own deadline bounds the wait, a little before it expires.
TEST_F(ControlServiceTest, WaitEndsBeforeTheCallDeadline) {
  v1::ApplyServiceRequest request;
  *request.mutable_service() = service_from_text(kWebService);
  request.mutable_wait()->set_enabled(true);  // no timeout_ms: the deadline rules
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  const auto before = steady_clock::now();
  v1::MutationResponse response;
  ASSERT_TRUE(stub_->ApplyService(&context, request, &response).ok());
  const auto until = core_.calls().at(0).options.wait_applied_until;
  ASSERT_TRUE(until);
  EXPECT_LE(*until, before + milliseconds(5000) - kDeadlineMargin + milliseconds(50));
  EXPECT_GE(*until, before + milliseconds(5000) - kDeadlineMargin - milliseconds(500));
}

// A wait that ends before every worker has the change is DEADLINE_EXCEEDED,
// naming the saved revision, also in the trailing metadata.
TEST_F(ControlServiceTest, WaitNotAppliedIsDeadlineExceeded) {
  core_.set_applies(false);
  v1::ApplyServiceRequest request;
  *request.mutable_service() = service_from_text(kWebService);
  request.mutable_wait()->set_enabled(true);
  grpc::ClientContext context;
  v1::MutationResponse response;
  const grpc::Status status = stub_->ApplyService(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(status.error_message(),
            "revision 1 was saved and published but not every worker forwards with it yet");
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto it = trailers.find(kRevisionMetadataKey);
  ASSERT_NE(it, trailers.end());
  EXPECT_EQ(std::string(it->second.data(), it->second.size()), "1");
}

// DeleteService passes the name and options; the service is gone.
TEST_F(ControlServiceTest, DeleteService) {
  add_both();
  v1::DeleteServiceRequest request;
  request.set_name("web");
  request.set_expected_revision(2);
  grpc::ClientContext context;
  v1::MutationResponse response;
  ASSERT_TRUE(stub_->DeleteService(&context, request, &response).ok());
  EXPECT_EQ(response.revision(), 3u);
  const auto calls = core_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "delete_service");
  EXPECT_EQ(calls[0].service, "web");
  EXPECT_EQ(calls[0].options.expected_revision, 2u);
  uint64_t revision = 0;
  EXPECT_FALSE(core_.get_service("web", &revision));
}

// GetService answers the service with every field written out, and its revision.
TEST_F(ControlServiceTest, GetService) {
  add_both();
  v1::GetServiceRequest request;
  request.set_name("dns");
  grpc::ClientContext context;
  v1::GetServiceResponse response;
  ASSERT_TRUE(stub_->GetService(&context, request, &response).ok());
  EXPECT_EQ(response.revision(), 2u);
  const v1::Service& s = response.service();
  EXPECT_EQ(s.name(), "dns");
  EXPECT_EQ(s.vip(), "2001:db8::53");
  EXPECT_EQ(s.port(), 53u);
  EXPECT_EQ(s.protocol(), v1::PROTOCOL_UDP);
  EXPECT_EQ(s.affinity(), v1::AFFINITY_FLOW);  // written out, not UNSPECIFIED
  ASSERT_TRUE(s.has_maglev_table_size());
  EXPECT_EQ(s.maglev_table_size(), 65537u);
  EXPECT_EQ(s.pools(0).backends(0).address(), "2001:db8:1::1");
  EXPECT_EQ(s.pools(0).backends(0).state(), v1::BACKEND_STATE_ACTIVE);
}

// ListServices answers every service in order, with the revision.
TEST_F(ControlServiceTest, ListServices) {
  add_both();
  grpc::ClientContext context;
  v1::ListServicesResponse response;
  ASSERT_TRUE(stub_->ListServices(&context, v1::ListServicesRequest(), &response).ok());
  EXPECT_EQ(response.revision(), 2u);
  ASSERT_EQ(response.services_size(), 2);
  EXPECT_EQ(response.services(0).name(), "web");
  EXPECT_EQ(response.services(1).name(), "dns");
  EXPECT_EQ(response.services(0).pools(1).weight(), 10u);
}

// An empty list is an answer too, at revision 0.
TEST_F(ControlServiceTest, ListServicesEmpty) {
  grpc::ClientContext context;
  v1::ListServicesResponse response;
  ASSERT_TRUE(stub_->ListServices(&context, v1::ListServicesRequest(), &response).ok());
  EXPECT_EQ(response.services_size(), 0);
  EXPECT_EQ(response.revision(), 0u);
}

// SetWeights passes the whole map to the core in one call.
TEST_F(ControlServiceTest, SetWeights) {
  add_both();
  v1::SetWeightsRequest request;
  request.set_service("web");
  (*request.mutable_weights())["stable"] = 50;
  (*request.mutable_weights())["canary"] = 0;
  request.mutable_wait()->set_enabled(true);
  grpc::ClientContext context;
  v1::MutationResponse response;
  ASSERT_TRUE(stub_->SetWeights(&context, request, &response).ok());
  EXPECT_EQ(response.revision(), 3u);
  EXPECT_TRUE(response.applied());
  const auto calls = core_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].service, "web");
  EXPECT_THAT(calls[0].weights, ElementsAre(Pair("canary", 0u), Pair("stable", 50u)));
  EXPECT_TRUE(calls[0].options.wait_applied_until);
}

// SetBackendState maps the address and each of the three states.
TEST_F(ControlServiceTest, SetBackendState) {
  add_both();
  const std::pair<v1::BackendState, engine::BackendState> states[] = {
      {v1::BACKEND_STATE_DRAINING, engine::BackendState::kDraining},
      {v1::BACKEND_STATE_DISABLED, engine::BackendState::kDisabled},
      {v1::BACKEND_STATE_ACTIVE, engine::BackendState::kActive},
  };
  for (const auto& [proto_state, engine_state] : states) {
    v1::SetBackendStateRequest request;
    request.set_service("dns");
    request.set_address("2001:db8:1::1");
    request.set_state(proto_state);
    grpc::ClientContext context;
    v1::MutationResponse response;
    ASSERT_TRUE(stub_->SetBackendState(&context, request, &response).ok());
    const auto call = core_.calls().back();
    EXPECT_EQ(call.service, "dns");
    EXPECT_EQ(call.backend, *engine::IpAddress::parse("2001:db8:1::1"));
    EXPECT_EQ(call.state, engine_state);
  }
  EXPECT_EQ(core_.revision(), 5u);
}

// GetStatus copies every field of the core's status.
TEST_F(ControlServiceTest, GetStatus) {
  add_both();
  ControlStatus status = fakes::status_of("dpdk", {2, 1, 2}, 0, 123456, "0.1.0");
  status.applied_revision = 1;
  status.published_revision = 2;
  status.publish_attempts = 7;
  status.publish_failures = 3;
  status.publish_error = "refused";
  status.dataplane_fault = "detached";
  status.serving = false;
  status.not_serving_reason = "dataplane fault: detached";
  core_.set_status(status);
  grpc::ClientContext context;
  v1::GetStatusResponse response;
  ASSERT_TRUE(stub_->GetStatus(&context, v1::GetStatusRequest(), &response).ok());
  EXPECT_EQ(response.dataplane(), "dpdk");
  EXPECT_THAT(response.worker_generations(), ElementsAre(2u, 1u, 2u));
  EXPECT_EQ(response.revision(), 2u);
  EXPECT_EQ(response.uptime_ms(), 123456u);
  EXPECT_EQ(response.version(), "0.1.0");
  EXPECT_EQ(response.applied_revision(), 1u);
  EXPECT_EQ(response.published_revision(), 2u);
  EXPECT_EQ(response.publish_attempts(), 7u);
  EXPECT_EQ(response.publish_failures(), 3u);
  EXPECT_EQ(response.publish_error(), "refused");
  EXPECT_EQ(response.dataplane_fault(), "detached");
  EXPECT_FALSE(response.serving());
  EXPECT_EQ(response.not_serving_reason(), "dataplane fault: detached");
}

// ExplainFlow passes the parsed 5-tuple to the core and copies its answer.
TEST_F(ControlServiceTest, ExplainFlow) {
  add_both();
  core_.explanation.service = "web";
  core_.explanation.chosen_pool = "beta";
  core_.explanation.pool = "canary";
  core_.explanation.backend = "10.77.0.31";
  core_.explanation.rule_matched = true;
  core_.explanation.fallback = true;
  core_.explanation.maglev_slot = 17;
  core_.explanation.drop = "";
  core_.explanation.reason = "a rule";
  v1::ExplainFlowRequest request;
  request.set_client_address("10.77.0.11");
  request.set_client_port(4000);
  request.set_vip("10.77.100.10");
  request.set_port(80);
  request.set_protocol(v1::PROTOCOL_UDP);
  grpc::ClientContext context;
  v1::ExplainFlowResponse response;
  ASSERT_TRUE(stub_->ExplainFlow(&context, request, &response).ok());
  EXPECT_EQ(response.service(), "web");
  EXPECT_EQ(response.pool(), "canary");
  EXPECT_EQ(response.backend(), "10.77.0.31");
  EXPECT_TRUE(response.rule_matched());
  EXPECT_EQ(response.maglev_slot(), 17u);
  EXPECT_EQ(response.reason(), "a rule");
  EXPECT_EQ(response.chosen_pool(), "beta");
  EXPECT_TRUE(response.fallback());
  EXPECT_EQ(response.drop_reason(), "");
  EXPECT_EQ(response.revision(), 2u);
  EXPECT_EQ(core_.last_query.client.to_string(), "10.77.0.11");
  EXPECT_EQ(core_.last_query.client_port, 4000);
  EXPECT_EQ(core_.last_query.port, 80);
  EXPECT_EQ(core_.last_query.protocol, engine::Protocol::kUdp);
}

// ExplainFlow refuses bad addresses and ports, naming the field.
TEST_F(ControlServiceTest, ExplainFlowRefusesBadInput) {
  v1::ExplainFlowRequest request;
  request.set_client_address("10.77.0.300");
  request.set_vip("fd77::1");
  request.set_port(0);
  grpc::ClientContext context;
  v1::ExplainFlowResponse response;
  const grpc::Status status = stub_->ExplainFlow(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "client_address: \"10.77.0.300\" is not an IPv4 or IPv6 address; "
            "port: 0 is out of range 1..65535");
  request.set_client_address("10.77.0.1");
  request.set_port(80);
  grpc::ClientContext again;
  const grpc::Status mixed = stub_->ExplainFlow(&again, request, &response);
  EXPECT_EQ(mixed.error_message(), "client_address: is not of the VIP's address family");
}

// --- GetStats ---

// Every field of the core's stats reaches the response.
TEST_F(ControlServiceTest, GetStatsMapsEveryField) {
  core_.set_stats(sample_stats());
  grpc::ClientContext context;
  v1::GetStatsResponse r;
  ASSERT_TRUE(stub_->GetStats(&context, v1::GetStatsRequest(), &r).ok());
  EXPECT_EQ(*core_.last_stats_service(), "");
  EXPECT_EQ(r.uptime_ms(), 60000u);
  EXPECT_EQ(r.revision(), 4u);
  EXPECT_EQ(r.dataplane(), "dpdk");
  ASSERT_EQ(r.workers_size(), 2);
  const v1::WorkerStats& w1 = r.workers(1);
  EXPECT_EQ(w1.worker(), 1u);
  EXPECT_EQ(w1.generation(), 4u);
  EXPECT_EQ(w1.label(), "lcore 2");
  EXPECT_EQ(w1.stats().counters(0).name(), "rx_packets");
  EXPECT_EQ(w1.stats().counters(0).value(), 600u);
  EXPECT_EQ(w1.stats().drops(1).name(), "fragment");
  EXPECT_EQ(w1.stats().drops(1).value(), 7u);
  EXPECT_EQ(w1.stats().circuits().opened(), 1u);
  EXPECT_EQ(w1.stats().circuits().failures(), 3u);
  EXPECT_EQ(w1.stats().circuits().tracked(), 1u);
  EXPECT_EQ(w1.stats().circuits().capacity(), 64u);
  EXPECT_EQ(w1.stats().dataplane(0).name(), "rx_bursts");
  EXPECT_EQ(r.total().counters(1).value(), 1000u);
  EXPECT_EQ(r.total().circuits().capacity(), 128u);
  ASSERT_EQ(r.services_size(), 2);
  const v1::ServiceStats& web = r.services(0);
  EXPECT_EQ(web.name(), "web");
  EXPECT_EQ(web.traffic().packets(), 900u);
  EXPECT_EQ(web.traffic().bytes(), 90000u);
  ASSERT_EQ(web.pools_size(), 2);
  EXPECT_EQ(web.pools(1).name(), "canary");
  EXPECT_EQ(web.pools(1).weight(), 10u);
  const v1::BackendStats& canary = web.pools(1).backends(0);
  EXPECT_EQ(canary.address(), "10.77.0.31");
  EXPECT_EQ(canary.state(), v1::BACKEND_STATE_DRAINING);
  EXPECT_EQ(canary.weight(), 1u);
  EXPECT_EQ(canary.traffic().packets(), 300u);
  EXPECT_THAT(canary.circuits(), ElementsAre(v1::CIRCUIT_STATE_CLOSED, v1::CIRCUIT_STATE_OPEN));
  EXPECT_EQ(r.services(1).pools(0).backends(0).address(), "2001:db8:1::1");
}

// A service filter reaches the core; an unknown service is NOT_FOUND.
TEST_F(ControlServiceTest, GetStatsOfOneService) {
  core_.set_stats(sample_stats());
  v1::GetStatsRequest request;
  request.set_service("dns");
  grpc::ClientContext context;
  v1::GetStatsResponse r;
  ASSERT_TRUE(stub_->GetStats(&context, request, &r).ok());
  EXPECT_EQ(*core_.last_stats_service(), "dns");
  ASSERT_EQ(r.services_size(), 1);
  EXPECT_EQ(r.services(0).name(), "dns");
  EXPECT_EQ(r.workers_size(), 2);
  request.set_service("mail");
  grpc::ClientContext again;
  const grpc::Status status = stub_->GetStats(&again, request, &r);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "no service named \"mail\"");
}

// A filter that cannot be a service name is INVALID_ARGUMENT naming the
// field, without asking the core.
TEST_F(ControlServiceTest, GetStatsBadServiceName) {
  for (const std::string& bad : {std::string("we b"), std::string("web/stable"),
                                  std::string("caf\xc3\xa9")}) {
    v1::GetStatsRequest request;
    request.set_service(bad);
    grpc::ClientContext context;
    v1::GetStatsResponse r;
    const grpc::Status status = stub_->GetStats(&context, request, &r);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_EQ(status.error_message(),
              "service: \"" + bad +
                  "\" is not a service name (1 to 63 letters, digits, '-', '_' and '.')");
  }
  // Too long: refused by its size (field_limits.h), the name not echoed.
  v1::GetStatsRequest request;
  request.set_service(std::string(64, 'a'));
  grpc::ClientContext context;
  v1::GetStatsResponse r;
  const grpc::Status status = stub_->GetStats(&context, request, &r);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "service: 64 bytes, over the limit of 63");
  EXPECT_FALSE(core_.last_stats_service());
}

// --- WatchEvents ---

// Opens the stream and waits until it is subscribed (its initial metadata).
struct Watch {
  Watch(v1::Control::Stub& stub, std::optional<uint64_t> start) {
    v1::WatchEventsRequest request;
    if (start) request.set_start_sequence(*start);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    reader = stub.WatchEvents(&context, request);
    reader->WaitForInitialMetadata();
  }
  std::string next_sequence() const {
    const auto& m = context.GetServerInitialMetadata();
    const auto it = m.find(kNextSequenceMetadataKey);
    return it == m.end() ? "" : std::string(it->second.data(), it->second.size());
  }
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader;
};

// Every kind of event is mapped, in order, with its sequence and time.
TEST_F(ControlServiceTest, WatchEventsMapsEveryKind) {
  Watch watch(*stub_, std::nullopt);
  EXPECT_EQ(watch.next_sequence(), "1");
  const auto before = std::chrono::system_clock::now();
  core_.events().publish(ConfigChangedEvent{5, "SetWeights", "web", "weights a -> b", "unix:x"});
  core_.events().publish(WorkerAppliedEvent{1, 5});
  core_.events().publish(RevisionAppliedEvent{5, 2});
  core_.events().publish(CircuitChangedEvent{"web", "canary", "10.77.0.31", 1,
                                             engine::CircuitState::kClosed,
                                             engine::CircuitState::kOpen});
  std::vector<v1::Event> got(4);
  for (v1::Event& e : got) ASSERT_TRUE(watch.reader->Read(&e));
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].sequence(), i + 1);
  EXPECT_GE(google::protobuf::util::TimeUtil::TimestampToNanoseconds(got[0].time()),
            std::chrono::duration_cast<std::chrono::nanoseconds>(before.time_since_epoch()).count());
  ASSERT_TRUE(got[0].has_config_changed());
  EXPECT_EQ(got[0].config_changed().revision(), 5u);
  EXPECT_EQ(got[0].config_changed().method(), "SetWeights");
  EXPECT_EQ(got[0].config_changed().service(), "web");
  EXPECT_EQ(got[0].config_changed().summary(), "weights a -> b");
  EXPECT_EQ(got[0].config_changed().peer(), "unix:x");
  ASSERT_TRUE(got[1].has_worker_applied());
  EXPECT_EQ(got[1].worker_applied().worker(), 1u);
  EXPECT_EQ(got[1].worker_applied().generation(), 5u);
  ASSERT_TRUE(got[2].has_revision_applied());
  EXPECT_EQ(got[2].revision_applied().workers(), 2u);
  ASSERT_TRUE(got[3].has_circuit_changed());
  const v1::CircuitChanged& c = got[3].circuit_changed();
  EXPECT_EQ(c.service(), "web");
  EXPECT_EQ(c.pool(), "canary");
  EXPECT_EQ(c.backend(), "10.77.0.31");
  EXPECT_EQ(c.worker(), 1u);
  EXPECT_EQ(c.from(), v1::CIRCUIT_STATE_CLOSED);
  EXPECT_EQ(c.to(), v1::CIRCUIT_STATE_OPEN);
  watch.context.TryCancel();
}

// A start sequence replays held events; events the hub no longer holds
// come as an EventsLost notice first.
TEST_F(ControlServiceTest, WatchEventsFromASequence) {
  for (uint64_t r = 1; r <= 3; ++r) core_.events().publish(WorkerAppliedEvent{0, r});
  Watch watch(*stub_, 2);
  EXPECT_EQ(watch.next_sequence(), "4");
  v1::Event e;
  ASSERT_TRUE(watch.reader->Read(&e));
  EXPECT_EQ(e.sequence(), 2u);
  ASSERT_TRUE(watch.reader->Read(&e));
  EXPECT_EQ(e.sequence(), 3u);
  watch.context.TryCancel();
}

// The notice of lost events maps its range and reason.
TEST(EventMessagesTest, EventsLost) {
  const v1::Event e = event_to_proto(
      ControlEvent{0, std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)),
                   EventsLostNotice{4, 9, EventsLostNotice::Reason::kTooSlow}});
  EXPECT_EQ(e.sequence(), 0u);
  EXPECT_EQ(e.time().seconds(), 1700000000);
  ASSERT_TRUE(e.has_events_lost());
  EXPECT_EQ(e.events_lost().first_sequence(), 4u);
  EXPECT_EQ(e.events_lost().last_sequence(), 9u);
  EXPECT_EQ(e.events_lost().reason(), v1::EventsLost::REASON_TOO_SLOW);
  const v1::Event history = event_to_proto(
      ControlEvent{0, {}, EventsLostNotice{1, 2, EventsLostNotice::Reason::kHistory}});
  EXPECT_EQ(history.events_lost().reason(), v1::EventsLost::REASON_HISTORY);
}

// A start beyond the next sequence number is INVALID_ARGUMENT naming the field.
TEST_F(ControlServiceTest, WatchEventsStartBeyondNext) {
  core_.events().publish(WorkerAppliedEvent{0, 1});
  v1::WatchEventsRequest request;
  request.set_start_sequence(5);
  grpc::ClientContext context;
  auto reader = stub_->WatchEvents(&context, request);
  v1::Event e;
  EXPECT_FALSE(reader->Read(&e));
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::StartsWith("start_sequence: 5 is beyond"));
}

// Closing the hub (sluiced shutting down) ends the stream with OK after
// the events already queued.
TEST_F(ControlServiceTest, WatchEventsEndsWhenTheHubCloses) {
  Watch watch(*stub_, std::nullopt);
  core_.events().publish(WorkerAppliedEvent{0, 1});
  core_.events().close();
  v1::Event e;
  ASSERT_TRUE(watch.reader->Read(&e));
  EXPECT_EQ(e.sequence(), 1u);
  EXPECT_FALSE(watch.reader->Read(&e));
  EXPECT_TRUE(watch.reader->Finish().ok());
}

// A client that cancels its stream leaves the hub: its handler notices
// within a short while, so no server thread is held by a gone client.
TEST_F(ControlServiceTest, WatchEventsCancelledByTheClient) {
  {
    Watch watch(*stub_, std::nullopt);
    EXPECT_EQ(core_.events().subscriber_count(), 1u);
    watch.context.TryCancel();
    v1::Event e;
    EXPECT_FALSE(watch.reader->Read(&e));
    EXPECT_EQ(watch.reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  const auto deadline = steady_clock::now() + std::chrono::seconds(5);
  while (core_.events().subscriber_count() != 0 && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(core_.events().subscriber_count(), 0u);
}

}  // namespace
}  // namespace sluice::control::api
