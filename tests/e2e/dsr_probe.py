#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Checks the lab's decapsulation + direct-server-return path without sluiced.

Plays the balancer by hand: from inside the lb namespace it sends one TCP SYN
from a client to the VIP, encapsulated the way the engine does (IPIP or GUE,
outer IPv4 or IPv6, Ethernet destination = the router), toward one backend.
It listens on the client's interface (a packet socket opened inside the
client namespace) for the SYN-ACK that the backend must send from the VIP
straight to the client. Exit 0 when the SYN-ACK arrived (or, with
--expect-none, when nothing did), 1 otherwise.

usage: dsr_probe.py --client client1 --backend stable1 --encap ipip|gue
                    --outer 4|6 --inner 4|6 [--gue-port 6080] [--expect-none]
Lab addresses come from the LAB_* variables of `tools/lab env`.
"""

import argparse
import ctypes
import os
import random
import select
import socket
import sys
import time

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
HOST_OCTET = {"client1": 11, "client2": 12, "stable1": 21, "stable2": 22,
              "canary1": 31, "canary2": 32}

libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(name):
    """Moves this (single-threaded) process into a named network namespace.
    Sockets opened before keep the namespace they were opened in."""
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns(%s): %s" % (name, os.strerror(err)))
    finally:
        os.close(fd)


def packet_socket(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    return s


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit("dsr_probe: %s not set (eval \"$(tools/lab env)\")" % name)
    return value


def build_frame(args, client4, client6, sport, seq):
    net4 = env("LAB_SUBNET").rsplit(".", 1)[0]  # 10.77.0
    net6 = env("LAB_SUBNET6").split("/")[0]     # fd77::
    backend4 = "%s.%d" % (net4, HOST_OCTET[args.backend])
    backend6 = "%s%d" % (net6, HOST_OCTET[args.backend])
    syn = TCP(sport=sport, dport=int(env("LAB_VIP_PORT")), flags="S", seq=seq,
              window=64240, options=[("MSS", 1460)])
    if args.inner == 4:
        inner = IP(src=client4, dst=env("LAB_VIP"), flags="DF") / syn
    else:
        inner = IPv6(src=client6, dst=env("LAB_VIP6")) / syn
    inner_bytes = bytes(inner)
    tunnel_proto = 4 if args.inner == 4 else 41
    if args.encap == "gue":
        payload = UDP(sport=49152 + sport % 16384, dport=args.gue_port, chksum=0) / inner_bytes
        proto = 17
    else:
        payload = inner_bytes
        proto = tunnel_proto
    if args.outer == 4:
        outer = IP(src=env("LAB_LB_IP"), dst=backend4, proto=proto, flags="DF", ttl=64)
    else:
        outer = IPv6(src=env("LAB_LB_IP6"), dst=backend6, nh=proto, hlim=64)
    frame = Ether(src=env("LAB_LB_MAC"), dst=env("LAB_ROUTER_MAC")) / outer / payload
    return bytes(frame)


def is_syn_ack(data, args, client4, client6, sport, seq):
    try:
        pkt = Ether(data)
    except Exception:  # noqa: BLE001 - anything unparsable is not ours
        return False
    if args.inner == 4:
        if IP not in pkt or pkt[IP].src != env("LAB_VIP") or pkt[IP].dst != client4:
            return False
    else:
        if IPv6 not in pkt or pkt[IPv6].src != env("LAB_VIP6") or pkt[IPv6].dst != client6:
            return False
    if TCP not in pkt:
        return False
    tcp = pkt[TCP]
    return (tcp.sport == int(env("LAB_VIP_PORT")) and tcp.dport == sport and
            (int(tcp.flags) & 0x12) == 0x12 and tcp.ack == (seq + 1) & 0xffffffff)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", required=True, choices=["client1", "client2"])
    parser.add_argument("--backend", required=True,
                        choices=["stable1", "stable2", "canary1", "canary2"])
    parser.add_argument("--encap", required=True, choices=["ipip", "gue"])
    parser.add_argument("--outer", type=int, required=True, choices=[4, 6])
    # 6-in-4 is not a pair the engine emits, but the decapsulator takes it.
    parser.add_argument("--inner", type=int, required=True, choices=[4, 6])
    parser.add_argument("--gue-port", type=int, default=int(os.environ.get("LAB_GUE_PORT", 6080)))
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--expect-none", action="store_true",
                        help="pass when no SYN-ACK arrives (negative control)")
    args = parser.parse_args()
    prefix = env("LAB_PREFIX")
    net4 = env("LAB_SUBNET").rsplit(".", 1)[0]
    net6 = env("LAB_SUBNET6").split("/")[0]
    client4 = "%s.%d" % (net4, HOST_OCTET[args.client])
    client6 = "%s%d" % (net6, HOST_OCTET[args.client])
    sport = random.randint(20000, 60000)
    seq = random.randint(0, 0xffffffff)
    frame = build_frame(args, client4, client6, sport, seq)

    enter_netns("%s-%s" % (prefix, args.client))
    listener = packet_socket("%s-%s" % (prefix, args.client))
    enter_netns(env("LAB_LB_NS"))
    sender = packet_socket(env("LAB_LB_IF"))

    what = "%s %sin%s %s -> %s" % (args.encap, args.inner, args.outer, args.client, args.backend)
    # Two tries: the first frame may wait on the router's ARP/ND for the
    # backend; a resent SYN gets a SYN-ACK retransmission all the same.
    deadline = time.monotonic() + args.timeout
    next_send = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        if now >= next_send:
            sender.send(frame)
            next_send = now + args.timeout / 2
        ready, _, _ = select.select([listener], [], [], min(deadline, next_send) - now)
        if not ready:
            continue
        data = listener.recv(65535)
        if is_syn_ack(data, args, client4, client6, sport, seq):
            if args.expect_none:
                print("FAIL %s: got a SYN-ACK, expected none" % what)
                return 1
            print("ok   %s: SYN-ACK from the VIP reached the client" % what)
            return 0
    if args.expect_none:
        print("ok   %s: no SYN-ACK, as expected" % what)
        return 0
    print("FAIL %s: no SYN-ACK at the client within %.1f s" % (what, args.timeout))
    return 1


if __name__ == "__main__":
    sys.exit(main())
