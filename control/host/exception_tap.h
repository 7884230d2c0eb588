// SPDX-License-Identifier: Apache-2.0
// The kernel side of the DPDK dataplane's exception TAP, set up by sluiced
// itself: once DPDK owns the NIC, the host's own traffic (ARP, ICMP to the
// balancer, SSH, BGP) reaches the kernel only through the TAP, so the
// addresses the host answers on must live there, at the port's MTU.
//
// set_up(): the TAP gets the port's MTU and comes up; the addresses of the
// NIC's kernel interface (port.iface: the veth or NIC an AF_XDP or
// AF_PACKET port binds) move onto it, and the profile's exception.address
// lines are added. restore() (on stop, or when this object goes) moves them
// back. Which addresses moved is written to a record file before anything
// moves, so that a sluiced killed with the addresses on its TAP (which
// vanishes with the process) gets them back on its next start: set_up()
// takes the record's addresses as its own, and restore() puts them back.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "control/host/link_addresses.h"

namespace sluice::host {

struct ExceptionTapOptions {
  std::string tap;             // the TAP's kernel name (exception.interface)
  std::string nic;             // port.iface: whose addresses move; "" when there is none
  bool take_addresses = true;  // exception.take_addresses
  std::vector<InterfaceAddress> addresses;  // exception.address: added to the TAP
  uint32_t mtu = 0;            // the port's MTU; 0 leaves the TAP's
  std::string record_path;     // default_record_path(tap) unless a test says otherwise
};

// /run/sluice/exception-TAP.addresses
std::string default_record_path(const std::string& tap);

class ExceptionTap {
 public:
  // Throws LinkError naming the interface and the address that failed;
  // what moved before the failure is moved back first.
  static std::unique_ptr<ExceptionTap> set_up(const ExceptionTapOptions& options);
  ~ExceptionTap();  // restore(), if not done
  ExceptionTap(const ExceptionTap&) = delete;
  ExceptionTap& operator=(const ExceptionTap&) = delete;

  // Moves the addresses back to the NIC, removes the added ones, removes
  // the record. Logs what it could not do; never throws.
  void restore();

  const std::vector<InterfaceAddress>& moved() const { return moved_; }
  const std::vector<InterfaceAddress>& added() const { return added_; }

 private:
  explicit ExceptionTap(const ExceptionTapOptions& options) : options_(options) {}
  void apply();
  void write_record() const;

  ExceptionTapOptions options_;
  Links links_;
  std::vector<InterfaceAddress> moved_;  // from the NIC to the TAP
  std::vector<InterfaceAddress> added_;  // exception.address lines the TAP did not have
  bool restored_ = false;
};

}  // namespace sluice::host
