// SPDX-License-Identifier: Apache-2.0
#include "control/host/link_addresses.h"

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

namespace sluice::host {
namespace {

template <class T, void (*Free)(T*)>
struct Owned {
  T* p = nullptr;
  Owned() = default;
  explicit Owned(T* q) : p(q) {}
  ~Owned() {
    if (p) Free(p);
  }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
};

void free_cache(nl_cache* c) { nl_cache_free(c); }
void put_addr(rtnl_addr* a) { rtnl_addr_put(a); }
void put_nl_addr(nl_addr* a) { nl_addr_put(a); }
void put_link(rtnl_link* l) { rtnl_link_put(l); }

[[noreturn]] void fail(const std::string& what, int err) {
  throw LinkError(what + ": " + nl_geterror(err));
}

std::string text_of(nl_addr* a) {
  char buf[INET6_ADDRSTRLEN + 8];
  return nl_addr2str(a, buf, sizeof(buf));
}

}  // namespace

struct Links::Impl {
  nl_sock* sock = nullptr;
};

Links::Links() : impl_(std::make_unique<Impl>()) {
  impl_->sock = nl_socket_alloc();
  if (!impl_->sock) throw LinkError("netlink: cannot allocate a socket");
  if (int err = nl_connect(impl_->sock, NETLINK_ROUTE); err < 0) {
    nl_socket_free(impl_->sock);
    fail("netlink: connect", err);
  }
}

Links::~Links() { nl_socket_free(impl_->sock); }

int Links::index_of(const std::string& interface) {
  return static_cast<int>(if_nametoindex(interface.c_str()));
}

std::vector<InterfaceAddress> Links::addresses(const std::string& interface) {
  const int index = index_of(interface);
  if (index == 0) throw LinkError(interface + ": no such interface");
  Owned<nl_cache, free_cache> cache;
  if (int err = rtnl_addr_alloc_cache(impl_->sock, &cache.p); err < 0) {
    fail(interface + ": reading addresses", err);
  }
  std::vector<InterfaceAddress> out;
  for (nl_object* o = nl_cache_get_first(cache.p); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != index) continue;
    const int family = rtnl_addr_get_family(a);
    const int scope = rtnl_addr_get_scope(a);
    if ((family != AF_INET && family != AF_INET6) || scope == RT_SCOPE_LINK ||
        scope == RT_SCOPE_HOST) {
      continue;
    }
    out.push_back(text_of(rtnl_addr_get_local(a)));
  }
  return out;
}

void Links::add_address(const std::string& interface, const InterfaceAddress& address) {
  const int index = index_of(interface);
  if (index == 0) throw LinkError(interface + ": no such interface");
  Owned<nl_addr, put_nl_addr> local;
  if (int err = nl_addr_parse(address.c_str(), AF_UNSPEC, &local.p); err < 0) {
    fail(address, err);
  }
  Owned<rtnl_addr, put_addr> a(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(a.p, index);
  rtnl_addr_set_local(a.p, local.p);
  if (nl_addr_get_family(local.p) == AF_INET6) rtnl_addr_set_flags(a.p, IFA_F_NODAD);
  if (int err = rtnl_addr_add(impl_->sock, a.p, NLM_F_REPLACE); err < 0) {
    fail(interface + ": adding " + address, err);
  }
}

bool Links::remove_address(const std::string& interface, const InterfaceAddress& address) {
  const int index = index_of(interface);
  if (index == 0) return false;
  Owned<nl_addr, put_nl_addr> local;
  if (int err = nl_addr_parse(address.c_str(), AF_UNSPEC, &local.p); err < 0) fail(address, err);
  Owned<rtnl_addr, put_addr> a(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(a.p, index);
  rtnl_addr_set_local(a.p, local.p);
  const int err = rtnl_addr_delete(impl_->sock, a.p, 0);
  if (err == -NLE_NOADDR || err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) return false;
  if (err < 0) fail(interface + ": removing " + address, err);
  return true;
}

std::vector<std::string> Links::routes_through(const std::string& interface) {
  const int index = index_of(interface);
  if (index == 0) return {};
  Owned<nl_cache, free_cache> cache;
  if (int err = rtnl_route_alloc_cache(impl_->sock, AF_UNSPEC, 0, &cache.p); err < 0) {
    fail(interface + ": reading routes", err);
  }
  std::vector<std::string> out;
  for (nl_object* o = nl_cache_get_first(cache.p); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_protocol(r) == RTPROT_KERNEL ||
        rtnl_route_get_type(r) != RTN_UNICAST) {
      continue;
    }
    for (int i = 0; i < rtnl_route_get_nnexthops(r); ++i) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(r, i);
      if (rtnl_route_nh_get_ifindex(nh) != index) continue;
      nl_addr* dst = rtnl_route_get_dst(r);
      std::string text = dst && nl_addr_get_prefixlen(dst) == 0 ? "default" : text_of(dst);
      if (nl_addr* gw = rtnl_route_nh_get_gateway(nh)) text += " via " + text_of(gw);
      out.push_back(text);
    }
  }
  return out;
}

uint32_t Links::mtu(const std::string& interface) {
  Owned<rtnl_link, put_link> link;
  if (int err = rtnl_link_get_kernel(impl_->sock, 0, interface.c_str(), &link.p); err < 0) {
    fail(interface, err);
  }
  return rtnl_link_get_mtu(link.p);
}

void Links::set_mtu_and_up(const std::string& interface, uint32_t mtu) {
  Owned<rtnl_link, put_link> link;
  if (int err = rtnl_link_get_kernel(impl_->sock, 0, interface.c_str(), &link.p); err < 0) {
    fail(interface, err);
  }
  Owned<rtnl_link, put_link> change(rtnl_link_alloc());
  rtnl_link_set_mtu(change.p, mtu);
  rtnl_link_set_flags(change.p, IFF_UP);
  if (int err = rtnl_link_change(impl_->sock, link.p, change.p, 0); err < 0) {
    fail(interface + ": setting MTU " + std::to_string(mtu) + " and up", err);
  }
}

}  // namespace sluice::host
