// SPDX-License-Identifier: Apache-2.0
#include "control/host/exception_tap.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "control/util/atomic_file.h"

namespace sluice::host {
namespace {

bool contains(const std::vector<InterfaceAddress>& v, const InterfaceAddress& a) {
  return std::find(v.begin(), v.end(), a) != v.end();
}

std::string join(const std::vector<InterfaceAddress>& v) {
  std::string out;
  for (const auto& a : v) out += (out.empty() ? "" : ", ") + a;
  return out.empty() ? "none" : out;
}

// "moved ADDRESS" lines of a record left by a sluiced that did not stop
// cleanly; anything else in it is ignored.
std::vector<InterfaceAddress> read_record(const std::string& path) {
  std::vector<InterfaceAddress> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string kind, address;
    if (words >> kind >> address && kind == "moved" && !contains(out, address)) {
      out.push_back(address);
    }
  }
  return out;
}

void make_parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return;
  const std::string dir = path.substr(0, slash);
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    throw LinkError(dir + ": " + std::strerror(errno));
  }
}

}  // namespace

std::string default_record_path(const std::string& tap) {
  return "/run/sluice/exception-" + tap + ".addresses";
}

std::unique_ptr<ExceptionTap> ExceptionTap::set_up(const ExceptionTapOptions& options) {
  std::unique_ptr<ExceptionTap> t(new ExceptionTap(options));
  if (t->options_.record_path.empty()) t->options_.record_path = default_record_path(options.tap);
  try {
    t->apply();
  } catch (const LinkError&) {
    t->restore();
    throw;
  }
  return t;
}

ExceptionTap::~ExceptionTap() { restore(); }

void ExceptionTap::apply() {
  const ExceptionTapOptions& o = options_;
  if (links_.index_of(o.tap) == 0) throw LinkError(o.tap + ": no such interface (the TAP)");
  if (o.mtu != 0) links_.set_mtu_and_up(o.tap, o.mtu);
  else links_.set_mtu_and_up(o.tap, links_.mtu(o.tap));
  if (o.take_addresses && !o.nic.empty()) {
    if (links_.index_of(o.nic) == 0) {
      throw LinkError("port.iface " + o.nic + ": no such interface, its addresses cannot move "
                      "to " + o.tap + " (exception.take_addresses = off if it has none)");
    }
    // A previous sluiced's addresses first: they vanished with its TAP.
    moved_ = read_record(o.record_path);
    for (InterfaceAddress& a : links_.addresses(o.nic)) {
      if (!contains(moved_, a)) moved_.push_back(std::move(a));
    }
  }
  for (const InterfaceAddress& a : o.addresses) {
    if (!contains(moved_, a) && !contains(added_, a)) added_.push_back(a);
  }
  // Written before anything moves: a crash from here on loses nothing.
  write_record();
  for (const InterfaceAddress& a : moved_) {
    links_.remove_address(o.nic, a);
    links_.add_address(o.tap, a);
  }
  for (const InterfaceAddress& a : added_) links_.add_address(o.tap, a);
  spdlog::info("exception path {}: MTU {}, up; addresses moved from {}: {}; added: {} "
               "(record {}; moved back on stop)",
               o.tap, links_.mtu(o.tap), o.nic.empty() ? "(no kernel interface)" : o.nic,
               join(moved_), join(added_), o.record_path);
  if (!o.nic.empty()) {
    for (const std::string& r : links_.routes_through(o.nic)) {
      spdlog::warn("exception path: route \"{}\" leaves through {}, which DPDK now owns; "
                   "sluiced does not move routes: add it through {}",
                   r, o.nic, o.tap);
    }
  }
}

void ExceptionTap::write_record() const {
  const std::string& path = options_.record_path;
  make_parent(path);
  std::string text = "# sluiced exception TAP " + options_.tap + " (" + options_.nic +
                     "): addresses to give back to " + options_.nic + " if sluiced died\n";
  for (const auto& a : moved_) text += "moved " + a + "\n";
  for (const auto& a : added_) text += "added " + a + "\n";
  if (std::string error; !control::write_file_atomically(path, text, &error)) {
    throw LinkError(error);
  }
}

void ExceptionTap::restore() {
  if (restored_) return;
  restored_ = true;
  const ExceptionTapOptions& o = options_;
  bool all = true;
  for (const InterfaceAddress& a : moved_) {
    try {
      links_.remove_address(o.tap, a);
      links_.add_address(o.nic, a);
    } catch (const LinkError& e) {
      all = false;
      spdlog::error("exception path: {} not moved back to {}: {}", a, o.nic, e.what());
    }
  }
  for (const InterfaceAddress& a : added_) {
    try {
      links_.remove_address(o.tap, a);
    } catch (const LinkError& e) {
      spdlog::warn("exception path: {} not removed from {}: {}", a, o.tap, e.what());
    }
  }
  if (!moved_.empty()) spdlog::info("exception path: moved back to {}: {}", o.nic, join(moved_));
  // Kept when an address could not go back: the next start retries it.
  if (all) ::unlink(o.record_path.c_str());
}

}  // namespace sluice::host
