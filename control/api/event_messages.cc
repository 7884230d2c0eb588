// SPDX-License-Identifier: Apache-2.0
#include "control/api/event_messages.h"

#include <google/protobuf/util/time_util.h>

#include "control/api/stats_messages.h"

namespace sluice::control::api {
namespace {

// Fills the oneof member of `event` for each kind of detail.
struct DetailToProto {
  v1::Event& event;

  void operator()(const ConfigChangedEvent& e) const {
    v1::ConfigChanged* p = event.mutable_config_changed();
    p->set_revision(e.revision);
    p->set_method(e.method);
    p->set_service(e.service);
    p->set_summary(e.summary);
    p->set_peer(e.peer);
  }
  void operator()(const WorkerAppliedEvent& e) const {
    v1::WorkerApplied* p = event.mutable_worker_applied();
    p->set_worker(e.worker);
    p->set_generation(e.generation);
  }
  void operator()(const RevisionAppliedEvent& e) const {
    v1::RevisionApplied* p = event.mutable_revision_applied();
    p->set_generation(e.generation);
    p->set_workers(e.workers);
  }
  void operator()(const CircuitChangedEvent& e) const {
    v1::CircuitChanged* p = event.mutable_circuit_changed();
    p->set_service(e.service);
    p->set_pool(e.pool);
    p->set_backend(e.backend);
    p->set_worker(e.worker);
    p->set_from(circuit_state_to_proto(e.from));
    p->set_to(circuit_state_to_proto(e.to));
  }
  void operator()(const HealthChangedEvent& e) const {
    v1::HealthChanged* p = event.mutable_health_changed();
    p->set_service(e.service);
    p->set_pool(e.pool);
    p->set_backend(e.backend);
    p->set_from(health_state_to_proto(e.from));
    p->set_to(health_state_to_proto(e.to));
    p->set_reason(e.reason);
  }
  void operator()(const DataplaneHealthEvent& e) const {
    v1::DataplaneHealth* p = event.mutable_dataplane_health();
    p->set_serving(e.serving);
    p->set_desired_revision(e.desired_revision);
    p->set_applied_revision(e.applied_revision);
    p->set_reason(e.reason);
  }
  void operator()(const EventsLostNotice& e) const {
    v1::EventsLost* p = event.mutable_events_lost();
    p->set_first_sequence(e.first_sequence);
    p->set_last_sequence(e.last_sequence);
    p->set_reason(e.reason == EventsLostNotice::Reason::kHistory ? v1::EventsLost::REASON_HISTORY
                                                                 : v1::EventsLost::REASON_TOO_SLOW);
  }
};

}  // namespace

v1::Event event_to_proto(const ControlEvent& event) {
  v1::Event p;
  p.set_sequence(event.sequence);
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
      event.time.time_since_epoch());
  *p.mutable_time() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(ns.count());
  std::visit(DetailToProto{p}, event.detail);
  return p;
}

}  // namespace sluice::control::api
