// SPDX-License-Identifier: Apache-2.0
// The kernel side of a network interface as sluiced needs it: its IP
// addresses (list, add, remove), its MTU and its up flag, and the routes
// through it, over rtnetlink (Debian's libnl-route-3, not `ip` commands).
// Control-plane code only: every call is a netlink round trip.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::host {

class LinkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An address of an interface as "ADDRESS/PREFIXLEN" ("10.0.0.2/24",
// "fd00::2/64").
using InterfaceAddress = std::string;

class Links {
 public:
  // Opens a rtnetlink socket in the calling thread's network namespace.
  Links();
  ~Links();
  Links(const Links&) = delete;
  Links& operator=(const Links&) = delete;

  // 0 when there is no such interface.
  int index_of(const std::string& interface);
  // The addresses of `interface` that the host answers on and routes by:
  // IPv4 and IPv6 of global or site scope (not link-local, not loopback).
  std::vector<InterfaceAddress> addresses(const std::string& interface);
  // Adds `address` (IPv6 without duplicate address detection: it moves
  // between two legs of one host and is no one else's).
  void add_address(const std::string& interface, const InterfaceAddress& address);
  // Removes `address`; false when the interface did not have it.
  bool remove_address(const std::string& interface, const InterfaceAddress& address);
  // Routes of the main table that leave through `interface` and that the
  // kernel did not make itself for an address (gateway and static routes),
  // as text for people: "default via 10.0.0.1".
  std::vector<std::string> routes_through(const std::string& interface);
  uint32_t mtu(const std::string& interface);
  // Sets the MTU and brings the interface up.
  void set_mtu_and_up(const std::string& interface, uint32_t mtu);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::host
