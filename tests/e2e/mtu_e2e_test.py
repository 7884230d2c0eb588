#!/usr/bin/python3
"""MTU end-to-end in the namespace lab (tools/lab), on either dataplane
(SLUICE_LAB_DATAPLANE=dpdk or xdp; meson runs the file for each).

The fabric (router, lb and backend legs) has MTU 1500, like the clients'
legs, so a client's full-size segment (1500 bytes) no longer fits once
encapsulated. The balancer must answer it with ICMP fragmentation-needed
(IPv4, MTU 1480 for IPIP) / packet-too-big (IPv6, 1460 for IPIP over IPv6)
from the VIP; the client's kernel lowers its path MTU and resends. Without
those answers the upload stalls: the segments vanish.

  1. IPv4: a 4 MB POST /echo from client1 through the VIP completes, the
     echoed body is intact, the client's route cache holds mtu 1480 for the
     VIP, and the balancer counted too_big_icmp_sent.
  2. IPv6: the same through the IPv6 VIP, mtu 1460.
  3. A port too small for the IPv6 service (1300 - 40 < 1280) is refused,
     naming the service's encapsulation: on XDP when the link's MTU drops
     and a change is applied (the change is refused, and the link's MTU is
     put back); on DPDK at a restart with port.mtu=1300 (sluiced exits).

Needs root, the built sluiced and BPF objects (meson passes their paths).
Exits 77 (skip) without root. Cleans up its lab on every path.
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dataplane_e2e_test  # noqa: E402  (its Lab helper)
LAB = dataplane_e2e_test.LAB
PYTHON = dataplane_e2e_test.PYTHON
DATAPLANE = dataplane_e2e_test.DATAPLANE
UPLOAD_BYTES = 4 << 20
UPLOAD_TIMEOUT_S = 15

# Run in the client's namespace: POST /echo with `size` bytes, read the
# echo back, print one JSON line. A stalled connection (no ICMP answers:
# the big segments are lost for good) hits the socket timeout.
UPLOAD = r"""
import hashlib, json, os, socket, sys, time
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
size, timeout = int(sys.argv[2]), float(sys.argv[3])
body = os.urandom(size)
start = time.monotonic()
s = socket.socket(family, socket.SOCK_STREAM)
s.settimeout(timeout)
result = {"ok": False}
try:
    s.connect((sys.argv[1], 80))
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n"
              b"Content-Length: %d\r\n\r\n" % size + body)
    got = b""
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        got += chunk
    head, _, echoed = got.partition(b"\r\n\r\n")
    result = {"ok": echoed == body, "status": head.split(b"\r\n")[0].decode(),
              "echoed": len(echoed)}
except OSError as e:
    result["error"] = str(e)
result["seconds"] = round(time.monotonic() - start, 2)
print(json.dumps(result))
"""


def services():
    backends = lambda *a: [{"address": x, "state": "BACKEND_STATE_ACTIVE"} for x in a]
    svc = lambda name, vip, b: {
        "name": name, "vip": vip, "port": 80, "protocol": "PROTOCOL_TCP",
        "affinity": "AFFINITY_FLOW", "encapsulation": "ENCAPSULATION_IPIP",
        "pools": [{"name": "stable", "weight": 1, "backends": b}]}
    return {"services": [svc("web", "10.77.100.10", backends("10.77.0.21", "10.77.0.22")),
                         svc("web6", "fd77:100::10", backends("fd77::21", "fd77::22"))]}


class Lab(dataplane_e2e_test.Lab):
    """tools/lab under a prefix of its own, with a 1500-byte fabric."""

    def __init__(self):
        super().__init__()
        self.prefix = "mt%04x" % random.randrange(16 ** 4)
        self.environ.update(SLUICE_LAB_PREFIX=self.prefix, SLUICE_LAB_MTU_FABRIC="1500")


class MtuEndToEndTest(unittest.TestCase):
    lab = None

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab()
        cls.services_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False).name
        with open(cls.services_file, "w") as f:
            json.dump(services(), f)
        # DPDK: the lab profile's port.mtu is 1600 (for the usual fabric).
        extra = ["--", "--profile-set", "port.mtu=1500"] if DATAPLANE == "dpdk" else []
        try:
            cls.lab.up()
            cls.lab.run("lb-start", cls.services_file, *extra, timeout=60)
        except BaseException:
            cls.lab.down()
            os.unlink(cls.services_file)
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.lab:
            cls.lab.down()
        os.unlink(cls.services_file)

    def upload(self, vip, learnt_mtu):
        sent_before = self.lab.stats()["engine"]["too_big_icmp_sent"]
        out = self.lab.exec("client1", PYTHON, "-c", UPLOAD, vip, str(UPLOAD_BYTES),
                            str(UPLOAD_TIMEOUT_S), timeout=UPLOAD_TIMEOUT_S + 30)
        r = json.loads(out.strip().splitlines()[-1])
        # sluiced writes its stats file every 200 ms.
        deadline = time.monotonic() + 2
        engine = self.lab.stats()["engine"]
        while engine["too_big_icmp_sent"] <= sent_before and time.monotonic() < deadline:
            time.sleep(0.1)
            engine = self.lab.stats()["engine"]
        print("%s: %s; too_big_icmp_sent %d, too_big_rate_limited %d" %
              (vip, r, engine["too_big_icmp_sent"], engine["too_big_rate_limited"]))
        self.assertTrue(r["ok"], "upload through %s failed: %s\nsluiced log:\n%s" %
                        (vip, r, self.lab.sluiced_log()))
        self.assertGreater(engine["too_big_icmp_sent"], sent_before)
        route = self.lab.exec("client1", "ip", "route", "get", vip)
        self.assertIn("mtu %d" % learnt_mtu, route)

    # 1
    def test_1_ipv4_upload_learns_mtu_from_the_vip(self):
        """4 MB over IPv4 through the VIP: frag-needed, MTU 1480."""
        self.upload(self.lab.vars["LAB_VIP"], 1480)

    # 2
    def test_2_ipv6_upload_learns_mtu_from_the_vip(self):
        """4 MB over IPv6 through the VIP: packet-too-big, MTU 1460."""
        self.upload(self.lab.vars["LAB_VIP6"], 1460)

    # 3
    def test_3_port_too_small_for_ipv6_is_refused(self):
        """An IPv6 service that no longer fits the port's MTU is refused."""
        lb_if = self.lab.vars["LAB_LB_IF"]
        expected = "encapsulation: IPIP to IPv6 backends adds 40 bytes, which leaves 1260 bytes"
        if DATAPLANE == "xdp":
            changed = services()
            changed["services"][1]["pools"][0]["backends"].pop()
            with open(self.services_file, "w") as f:
                json.dump(changed, f)
            self.lab.exec("lb", "ip", "link", "set", lb_if, "mtu", "1300")
            try:
                r = subprocess.run([LAB, "lb-reload"], env=self.lab.environ,
                                   stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                   timeout=60)
            finally:
                self.lab.exec("lb", "ip", "link", "set", lb_if, "mtu", "1500")
            self.assertNotEqual(r.returncode, 0, "the change was accepted: %s" % r.stdout)
            self.assertIn(expected, r.stderr + r.stdout)
            self.assertIn("web6", r.stderr + r.stdout)
            return
        self.lab.run("lb-stop")
        r = subprocess.run([LAB, "lb-restart", "--", "--profile-set", "port.mtu=1300"],
                           env=self.lab.environ, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0, "sluiced started: %s" % r.stdout)
        log = self.lab.sluiced_log()
        self.assertIn("services[1]." + expected, log)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: needs root (network namespaces)")
        sys.exit(77)
    unittest.main(verbosity=2)
