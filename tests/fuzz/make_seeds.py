#!/usr/bin/env python3
"""Writes the hand-made starting inputs of parse_fuzz into seeds/parse_fuzz/.

One frame per parser path (VLAN, IPv4 options, IPv6 extension headers,
fragments, ICMP errors quoting a flow), so libFuzzer starts from every
branch instead of discovering Ethernet from zero bytes. Rerun after adding a
frame:  python3 tests/fuzz/make_seeds.py
"""
import os

from scapy.all import (ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, ICMPv6DestUnreach,
                       ICMPv6EchoRequest, ICMPv6PacketTooBig, IPOption_RR, IPv6,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                       IPv6ExtHdrRouting, ARP, raw)

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
C4, V4 = "192.0.2.10", "203.0.113.1"
C6, V6 = "2001:db8::10", "2001:db8:1::1"

FRAMES = {
    "ipv4_tcp_syn": ETH / IP(src=C4, dst=V4) / TCP(sport=40000, dport=80, flags="S"),
    "ipv4_udp": ETH / IP(src=C4, dst=V4) / UDP(sport=5353, dport=53) / b"query",
    # 42 bytes of headers plus Ethernet padding past the IP total length.
    "ipv4_udp_padded": raw(ETH / IP(src=C4, dst=V4) / UDP(sport=1, dport=2)) + b"\0" * 18,
    "ipv4_options_tcp": ETH / IP(src=C4, dst=V4, options=[IPOption_RR()]) / TCP(dport=443),
    "ipv4_vlan_tcp": ETH / Dot1Q(vlan=42) / IP(src=C4, dst=V4) / TCP(dport=80, flags="A"),
    "ipv4_qinq": ETH / Dot1AD(vlan=1) / Dot1Q(vlan=2) / IP(src=C4, dst=V4) / TCP(),
    "ipv4_first_fragment": ETH / IP(src=C4, dst=V4, flags="MF", frag=0) / UDP(dport=53) / (b"x" * 16),
    "ipv4_later_fragment": ETH / IP(src=C4, dst=V4, proto=17, frag=3) / (b"x" * 16),
    "ipv4_icmp_echo": ETH / IP(src=C4, dst=V4) / ICMP(type=8),
    "ipv4_icmp_frag_needed": ETH / IP(src="198.51.100.1", dst=V4) / ICMP(type=3, code=4, nexthopmtu=1400)
        / IP(src=V4, dst=C4) / TCP(sport=80, dport=40000),
    "ipv4_icmp_time_exceeded": ETH / IP(src="198.51.100.1", dst=V4) / ICMP(type=11)
        / IP(src=V4, dst=C4) / UDP(sport=53, dport=5353),
    "ipv6_tcp": ETH / IPv6(src=C6, dst=V6) / TCP(sport=40000, dport=443, flags="S"),
    "ipv6_ext_udp": ETH / IPv6(src=C6, dst=V6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting()
        / IPv6ExtHdrDestOpt() / UDP(dport=53),
    "ipv6_fragment": ETH / IPv6(src=C6, dst=V6) / IPv6ExtHdrFragment(m=1, offset=0) / UDP(dport=53) / (b"y" * 16),
    "ipv6_later_fragment": ETH / IPv6(src=C6, dst=V6) / IPv6ExtHdrFragment(nh=17, offset=5) / (b"y" * 16),
    "ipv6_echo": ETH / IPv6(src=C6, dst=V6) / ICMPv6EchoRequest(),
    "ipv6_packet_too_big": ETH / IPv6(src="2001:db8:2::1", dst=V6) / ICMPv6PacketTooBig(mtu=1280)
        / IPv6(src=V6, dst=C6) / TCP(sport=443, dport=40000),
    "ipv6_dest_unreach": ETH / IPv6(src="2001:db8:2::1", dst=V6) / ICMPv6DestUnreach()
        / IPv6(src=V6, dst=C6) / UDP(sport=53, dport=5353),
    "arp": ETH / ARP(psrc=C4, pdst=V4),
}

def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "parse_fuzz")
    os.makedirs(out, exist_ok=True)
    for name, frame in FRAMES.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(frame if isinstance(frame, bytes) else raw(frame))

if __name__ == "__main__":
    main()
