#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A stand-in for sluiced in the lab, for tests only: slow, IPv4 only.

Run inside the lb namespace (tools/lab exec lb -- ...). It reads every frame
arriving on the lb's veth through a packet socket; an IPv4 TCP packet to the
VIP is encapsulated (IPIP, or GUE to --gue-port) toward one of --backends,
chosen by a hash of the client address and port so that every packet of a
connection goes to the same backend, and sent to the router's MAC, just as
the engine does. The lb's kernel also sees the frames and drops them (no
VIP there, no forwarding). It lets tests run real TCP connections through
the decapsulators and the DSR return path before sluiced exists.

usage: toy_balancer.py --backends 10.77.0.21,10.77.0.31 [--encap ipip|gue]
                       [--seconds 30]
Lab addresses come from the LAB_* variables of `tools/lab env`.
"""

import argparse
import os
import socket
import struct
import sys
import time
import zlib

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def outer_ipv4(src, dst, proto, payload_len, tos):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + payload_len, 0, 0x4000, 64, proto, 0,
                         src, dst)
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", required=True, help="comma-separated IPv4 addresses")
    parser.add_argument("--encap", choices=["ipip", "gue"], default="ipip")
    parser.add_argument("--gue-port", type=int, default=int(os.environ.get("LAB_GUE_PORT", 6080)))
    parser.add_argument("--seconds", type=float, default=30.0, help="exit after this long")
    args = parser.parse_args()

    backends = [socket.inet_aton(b) for b in args.backends.split(",")]
    vip = socket.inet_aton(os.environ["LAB_VIP"])
    port = int(os.environ["LAB_VIP_PORT"])
    lb_ip = socket.inet_aton(os.environ["LAB_LB_IP"])
    eth = (bytes.fromhex(os.environ["LAB_ROUTER_MAC"].replace(":", "")) +
           bytes.fromhex(os.environ["LAB_LB_MAC"].replace(":", "")) + b"\x08\x00")

    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((os.environ["LAB_LB_IF"], 0))
    sock.settimeout(0.2)
    print("toy balancer: %s to %s" % (args.encap, args.backends), flush=True)
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        try:
            frame, addr = sock.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] == PACKET_OUTGOING or len(frame) < 14 + 20 + 4 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0x0f) * 4
        if ip[0] >> 4 != 4 or ip[9] != 6 or ip[16:20] != vip or len(ip) < ihl + 4:
            continue
        total = struct.unpack("!H", ip[2:4])[0]
        inner = ip[:total]  # Ethernet padding dropped
        sport, dport = struct.unpack("!HH", inner[ihl:ihl + 4])
        if dport != port:
            continue
        flow = zlib.crc32(inner[12:16] + struct.pack("!H", sport))
        backend = backends[flow % len(backends)]
        if args.encap == "gue":
            udp = struct.pack("!HHHH", 49152 + flow % 16384, args.gue_port, 8 + len(inner), 0)
            payload = udp + inner
            proto = 17
        else:
            payload = inner
            proto = 4
        sock.send(eth + outer_ipv4(lb_ip, backend, proto, len(payload), inner[1]) + payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
