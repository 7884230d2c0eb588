// SPDX-License-Identifier: Apache-2.0
#include "control/metrics/signal_families.h"

#include <utility>

namespace sluice::control::metrics {
namespace {

struct Signal {
  const char* name;
  const char* help;
  uint64_t engine::TrafficCounter::*member;
};

constexpr Signal kSignals[] = {
#define SLUICE_X(name, help) {#name, help, &engine::TrafficCounter::name},
    SLUICE_SLOT_SIGNALS(SLUICE_X)
#undef SLUICE_X
};
static_assert(std::size(kSignals) == kSignalCount);

// Circuit openings only happen on backends: services and pools leave it out.
bool level_has_signal(const std::string& level, const Signal& signal) {
  return level == "backend" || std::string(signal.name) != "ejections";
}

}  // namespace

SignalFamilies make_signal_families(const std::string& level, const std::string& help_suffix) {
  SignalFamilies families;
  for (size_t i = 0; i < kSignalCount; ++i) {
    if (!level_has_signal(level, kSignals[i])) continue;
    families[i] = make_family("sluice_" + level + "_" + kSignals[i].name + "_total",
                              std::string("Golden signal per ") + level + ": " + kSignals[i].help +
                                  " (signal_list.h)." + help_suffix,
                              prometheus::MetricType::Counter);
  }
  return families;
}

void add_signals(SignalFamilies& families, const Labels& labels,
                 const engine::TrafficCounter& traffic) {
  for (size_t i = 0; i < kSignalCount; ++i) {
    if (families[i].name.empty()) continue;
    add_counter(families[i], labels, static_cast<double>(traffic.*kSignals[i].member));
  }
}

void move_signals(SignalFamilies& families, std::vector<prometheus::MetricFamily>& out) {
  for (prometheus::MetricFamily& f : families) {
    if (!f.name.empty()) out.push_back(std::move(f));
  }
}

double backend_state_value(engine::BackendState state) {
  switch (state) {
    case engine::BackendState::kActive: return 0;
    case engine::BackendState::kDraining: return 1;
    case engine::BackendState::kDisabled: return 2;
  }
  return 0;
}

double health_value(HealthState state) {
  switch (state) {
    case HealthState::kUnknown: return SLUICE_HEALTH_UNKNOWN;
    case HealthState::kHealthy: return SLUICE_HEALTH_HEALTHY;
    case HealthState::kUnhealthy: return SLUICE_HEALTH_UNHEALTHY;
  }
  return SLUICE_HEALTH_UNKNOWN;
}

}  // namespace sluice::control::metrics
