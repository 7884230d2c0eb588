// SPDX-License-Identifier: Apache-2.0
// What sluiced's main needs from a dataplane it runs, beyond the control
// core's DataplaneSink: bringing it up, starting and stopping forwarding,
// and periodic housekeeping. One implementation per --dataplane kind
// (dpdk_host.h, xdp_host.h), so that main.cc stays dataplane-neutral.
//
// Order of calls: prepare() (cheap checks of the options, before the state
// is read), open() (DPDK EAL and port / XDP load, attach or adopt), then
// snapshots are published through sink(), start() (forwarding begins with
// the published generation), housekeeping() every few milliseconds, stop().
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "control/core/dataplane_sink.h"
#include "control/daemon/daemon_options.h"
#include "dataplane/engine/config.h"

namespace sluice::control {

class DataplaneHost {
 public:
  virtual ~DataplaneHost() = default;
  // Each returns false after logging why (the daemon then exits).
  virtual bool prepare() = 0;
  virtual bool open() = 0;
  virtual bool start() = 0;
  // Valid after open().
  virtual engine::MacAddress local_mac() const = 0;
  // The MTU of the port forwarded frames leave by, now (DPDK: as the
  // device reports it; XDP: the link's, which may change); 0 if unknown.
  virtual uint32_t port_mtu() const = 0;
  virtual DataplaneSink& sink() = 0;
  virtual uint32_t worker_count() const = 0;
  // Valid after open(): the configuration revision an adopted dataplane
  // already forwards with (XDP: the maps an earlier sluiced pinned; in
  // control-plane mode a snapshot's generation is its state revision), and
  // what it is, for messages. 0 when nothing was adopted: DPDK adopts no
  // configuration. A witness of the start check (control/state/state_integrity.h).
  virtual uint64_t adopted_revision() const { return 0; }
  virtual std::string adopted_description() const { return "the dataplane"; }
  virtual void housekeeping() {}
  // Ends forwarding by this process (an XDP program stays attached: see
  // xdp_host.cc). The sink still reads the final counters afterwards.
  virtual void stop() = 0;
};

std::unique_ptr<DataplaneHost> make_dpdk_host(const DaemonOptions& options);
std::unique_ptr<DataplaneHost> make_xdp_host(const DaemonOptions& options);

// sluiced --dataplane xdp --xdp-detach: detaches and removes, logs what it
// did; the process exit code.
int detach_xdp(const DaemonOptions& options);

}  // namespace sluice::control
