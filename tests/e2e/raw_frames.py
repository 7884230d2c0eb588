#!/usr/bin/python3
"""Raw frames for the end-to-end tests (scapy; run inside a lab namespace).

  raw_frames.py frag-needed VIP CLIENT PORT
      an ICMP fragmentation-needed toward VIP quoting the reply VIP:80 ->
      CLIENT:PORT (as a router on the return path would send it)
  raw_frames.py sniff-icmp-in-ipip IFACE SECONDS
      prints how many IPIP packets carrying an ICMP frag-needed arrive on
      IFACE within SECONDS (the sniffer sees frames before tc decapsulates)
  raw_frames.py malformed IFACE LB_MAC VIP
      sends malformed frames at the balancer; prints JSON {drop reason: n}
      with the reason names of sluiced's stats file
  raw_frames.py host-flood IFACE LB_MAC LB_IP COUNT
      sends COUNT UDP datagrams from random sources to the balancer's own
      address (not a VIP: the exception path's traffic); prints JSON
      {"sent": n, "seconds": s}
"""
import random
import socket
import time
import json
import sys

from scapy.all import ICMP, IP, TCP, UDP, Ether, Raw, conf, raw, send, sendp, sniff

conf.verb = 0
REPEAT = 5


def frag_needed(vip, client, port):
    quoted = IP(src=vip, dst=client) / TCP(sport=80, dport=int(port), flags="A")
    send(IP(dst=vip) / ICMP(type=3, code=4, nexthopmtu=1400) / raw(quoted)[:28])


def sniff_icmp_in_ipip(iface, seconds):
    def carries_frag_needed(p):
        if IP not in p or p[IP].proto != 4:
            return False
        inner = IP(raw(p[IP].payload))
        return ICMP in inner and inner[ICMP].type == 3 and inner[ICMP].code == 4

    got = sniff(iface=iface, timeout=float(seconds), lfilter=carries_frag_needed)
    print(len(got))


def host_flood(iface, lb_mac, lb_ip, count):
    # 1024 distinct frames sent round-robin through a raw socket: scapy's
    # sendp manages a few thousand frames a second, a raw socket about a
    # hundred times more, enough to make the pool's mbufs circulate.
    rng = random.Random(20261207)
    frames = [raw(Ether(dst=lb_mac) /
                  IP(src="198.18.%d.%d" % (rng.randrange(256), rng.randrange(1, 255)), dst=lb_ip) /
                  UDP(sport=rng.randrange(1024, 65536), dport=9) / Raw(b"f" * 18))
              for _ in range(1024)]
    count = int(count)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((iface, 0))
    sent = 0
    start = time.monotonic()
    for i in range(count):
        try:
            sock.send(frames[i & 1023])
            sent += 1
        except BlockingIOError:
            pass
    sock.close()
    print(json.dumps({"sent": sent, "seconds": time.monotonic() - start}))


def malformed(iface, lb_mac, vip):
    eth = Ether(dst=lb_mac)
    good_tcp = raw(IP(src="10.77.0.11", dst=vip) / TCP(sport=4000, dport=80, flags="S"))
    frames = {
        # Ethernet says IPv4, the frame stops inside the IPv4 header.
        "truncated-ip": raw(Ether(dst=lb_mac, type=0x0800)) + good_tcp[:12],
        "bad-ip-header-length": raw(eth / IP(src="10.77.0.11", dst=vip, ihl=3) / TCP(dport=80)),
        "bad-ip-total-length": raw(eth / IP(src="10.77.0.11", dst=vip, len=1400) / TCP(dport=80)),
        "bad-tcp-data-offset": raw(eth / IP(src="10.77.0.11", dst=vip) / TCP(dport=80, dataofs=2)),
        "bad-udp-length": raw(eth / IP(src="10.77.0.11", dst=vip) / UDP(dport=80, len=4)),
        "fragment": raw(eth / IP(src="10.77.0.11", dst=vip, flags="MF", frag=0) / TCP(dport=80) / Raw(b"x" * 16)),
        "truncated-icmp-inner": raw(eth / IP(src="10.77.0.11", dst=vip) / ICMP(type=3, code=4) / raw(IP(src=vip, dst="10.77.0.11"))[:12]),
        # Ethertype IPv4, version nibble 6.
        "bad-ip-version": raw(eth / IP(src="10.77.0.11", dst=vip, version=6) / TCP(dport=80)),
        # (Nested VLAN tags cannot be tested here: the kernel's receive path
        # moves the outer tag into skb metadata before the lb's veth, so the
        # balancer sees one tag. tests/dataplane/engine/parse_test.cc covers it.)
    }
    for frame in frames.values():
        for _ in range(REPEAT):
            sendp(frame, iface=iface)
    print(json.dumps({reason: REPEAT for reason in frames}))


def main(argv):
    mode = argv[1]
    if mode == "frag-needed":
        frag_needed(argv[2], argv[3], argv[4])
    elif mode == "sniff-icmp-in-ipip":
        sniff_icmp_in_ipip(argv[2], argv[3])
    elif mode == "malformed":
        malformed(argv[2], argv[3], argv[4])
    elif mode == "host-flood":
        host_flood(argv[2], argv[3], argv[4], argv[5])
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main(sys.argv)
