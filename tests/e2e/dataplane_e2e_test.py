#!/usr/bin/python3
"""End-to-end tests of sluiced in the namespace lab (tools/lab), on either
dataplane: SLUICE_LAB_DATAPLANE=dpdk (net_af_xdp on the lb's veth, or
net_af_packet with SLUICE_LAB_PMD=af_packet) or xdp (the XDP program attached
to the lb's veth). The same tests run against both; meson runs the file twice.

One lab and one sluiced serve the whole suite; each test applies its own
services file through the control API (tools/lab lb-reload: sluicectl apply)
and waits until the new generation is in force on every worker (the stats
file says so) before sending traffic.

  1. HTTP through the VIP reaches the backends; over 2000 new connections
     the split matches the weights within 3 points.
  2. 100 long-lived connections keep exchanging data while the weights change
     20 times and a backend is set draining: no reset, no stall.
  3. Client-address affinity keeps a client on its version across
     connections; flow affinity does not.
  4. A blackholed canary backend with TCP health checks: new connections
     keep succeeding (SYN-retry steering), its checks shed it within 2 s,
     the clients' retried SYNs (all from one /24) eject nothing by
     themselves, and once it is back it is HEALTHY and serves again.
  5. ICMP frag-needed toward the VIP reaches the backend that owns the flow;
     ping to the VIP is answered.
  6. Malformed frames sent at the balancer are counted and dropped; sluiced
     keeps running and keeps forwarding.
  7. (XDP) sluiced killed with SIGKILL under load: the pinned program forwards
     on, no connection breaks and no new connection fails; the restarted
     sluiced adopts the pinned program and state (same program id, same
     generation) and applies new weights.
  8. (DPDK) 50,000 datagrams to the lb's own address, sluiced restarted
     with exception.rate_pps=50: at most burst + rate x seconds reach the
     kernel, the rest is policed (host_policed), and VIP connections still
     succeed afterwards.

Needs root, the built sluiced and BPF objects (meson passes their paths) and
python3-scapy. Exits 77 (skip) without root. Cleans up its lab on every path.
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
REPO = os.path.dirname(os.path.dirname(HERE))
LAB = os.path.join(REPO, "tools", "lab")
PYTHON = "/usr/bin/python3"
CLIENT = os.path.join(REPO, "tools", "lab.d", "http_client.py")
FRAMES = os.path.join(HERE, "raw_frames.py")


DATAPLANE = os.environ.get("SLUICE_LAB_DATAPLANE", "dpdk")


class Lab:
    """tools/lab under a prefix of its own."""

    def __init__(self):
        self.prefix = "e%05x" % random.randrange(16 ** 5)
        self.environ = dict(os.environ, SLUICE_LAB_PREFIX=self.prefix, SLUICE_LAB_DATAPLANE=DATAPLANE)
        self.vars = {}

    def run(self, *args, check=True, timeout=120):
        p = subprocess.run([LAB, *args], env=self.environ, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("tools/lab %s failed (%d): %s %s" %
                                 (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p.stdout

    def up(self):
        self.run("up")
        for line in self.run("env").splitlines():
            key, _, value = line.partition("=")
            self.vars[key] = value.strip("'")

    def down(self):
        self.run("down", check=False)

    def exec(self, node, *cmd, timeout=120):
        return self.run("exec", node, "--", *cmd, timeout=timeout)

    def popen(self, node, *cmd):
        return subprocess.Popen([LAB, "exec", node, "--", *cmd], env=self.environ,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def stats(self):
        return json.loads(self.run("lb-stats"))

    def sluiced_log(self):
        try:
            with open(os.path.join(self.vars["LAB_STATE_DIR"], "sluiced.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""


def web_service(stable=90, canary=10, affinity="AFFINITY_FLOW", draining=(), circuit=None):
    backend = lambda a: {"address": a, "state": "BACKEND_STATE_DRAINING" if a in draining else "BACKEND_STATE_ACTIVE"}
    svc = {
        "name": "web",
        "vip": "10.77.100.10",
        "port": 80,
        "protocol": "PROTOCOL_TCP",
        "affinity": affinity,
        "encapsulation": "ENCAPSULATION_IPIP",
        "pools": [
            {"name": "stable", "weight": stable,
             "backends": [backend("10.77.0.21"), backend("10.77.0.22")]},
            {"name": "canary", "weight": canary,
             "backends": [backend("10.77.0.31"), backend("10.77.0.32")]},
        ],
        "fallback_pool": "stable",
    }
    if circuit:
        svc["circuit"] = circuit
    return {"services": [svc]}


class DataplaneEndToEndTest(unittest.TestCase):
    lab = None

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab()
        cls.services_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False).name
        cls.write_services(web_service())
        try:
            cls.lab.up()
            cls.lab.run("lb-start", cls.services_file, timeout=60)
        except BaseException:
            cls.lab.down()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.lab:
            cls.lab.down()
        os.unlink(cls.services_file)

    @classmethod
    def write_services(cls, services):
        with open(cls.services_file + ".tmp", "w") as f:
            json.dump(services, f)
        os.rename(cls.services_file + ".tmp", cls.services_file)

    def apply(self, services, timeout=10.0):
        """Publishes `services` and waits until every worker forwards with it."""
        before = self.lab.stats()["generation"]
        self.write_services(services)
        self.lab.run("lb-reload")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = self.lab.stats()
            if stats["generation"] > before and all(
                    w["generation"] >= stats["generation"] for w in stats["workers"]):
                return stats["generation"]
            time.sleep(0.05)
        self.fail("generation %d not applied in %.0f s; log:\n%s" %
                  (before + 1, timeout, self.lab.sluiced_log()))

    def client(self, node, *args, timeout=300):
        out = self.lab.exec(node, PYTHON, CLIENT, *args, timeout=timeout)
        return json.loads(out.strip().splitlines()[-1])

    def connect(self, node, count, timeout=300):
        return self.client(node, "connect", self.lab.vars["LAB_VIP"], "80", str(count),
                           timeout=timeout)

    def backend_health(self, address):
        """The backend's health state as sluicectl stats reports it."""
        stats = json.loads(self.lab.run("ctl", "--", "stats", "-o", "json"))
        for svc in stats.get("services", []):
            for pool in svc.get("pools", []):
                for b in pool.get("backends", []):
                    if b["address"] == address:
                        return b.get("health", {}).get("state", "HEALTH_STATE_UNKNOWN")
        return "HEALTH_STATE_UNKNOWN"

    def wait_health(self, address, state, timeout):
        """Seconds until `address` is in `state` (polled), or None."""
        start = time.monotonic()
        while time.monotonic() < start + timeout:
            if self.backend_health(address) == state:
                return time.monotonic() - start
            time.sleep(0.05)
        return None

    def backend_circuit(self, address):
        for svc in self.lab.stats()["services"]:
            for pool in svc["pools"]:
                for b in pool["backends"]:
                    if b["address"] == address:
                        return b["circuit"]
        return []

    # 1
    def test_1_split_matches_weights(self):
        """2000 new connections split 80/20 within 3 points."""
        self.apply(web_service(80, 20))
        procs = [self.lab.popen(c, PYTHON, CLIENT, "connect", self.lab.vars["LAB_VIP"], "80", "1000")
                 for c in ("client1", "client2")]
        versions, failed = {}, 0
        for p in procs:
            out, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, err)
            r = json.loads(out.strip().splitlines()[-1])
            failed += r["failed"]
            for v, n in r["versions"].items():
                versions[v] = versions.get(v, 0) + n
        total = sum(versions.values())
        self.assertEqual(failed, 0)
        self.assertEqual(total, 2000)
        canary = 100.0 * versions.get("canary", 0) / total
        print("split: canary %.1f%% of %d connections (weight 20%%)" % (canary, total))
        self.assertAlmostEqual(canary, 20.0, delta=3.0)

    # 2
    def test_2_long_lived_connections_survive_changes(self):
        """100 keep-alive connections, 20 weight changes and a drain: 0 resets, 0 stalls."""
        self.apply(web_service(50, 50))
        vip = self.lab.vars["LAB_VIP"]
        procs = [self.lab.popen(c, PYTHON, CLIENT, "hold", vip, "80", "50", "14", "0.2")
                 for c in ("client1", "client2")]
        time.sleep(2.5)  # let all 100 connect
        for i in range(20):
            canary = (i * 37) % 101
            draining = ("10.77.0.21",) if i >= 10 else ()
            self.apply(web_service(100 - canary, canary, draining=draining))
            time.sleep(0.2)
        results = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
            results.append(json.loads(out.strip().splitlines()[-1]))
        print("long-lived: %s" % results)
        for r in results:
            self.assertEqual(r["errors"], 0, r["error_samples"])
            self.assertEqual(r["stalls"], 0)
            self.assertEqual(r["switched"], 0)
            self.assertGreater(r["requests"], 50 * 30)

    # 3
    def test_3_client_affinity(self):
        """Client-address affinity keeps each client on one version; flow affinity spreads."""
        self.apply(web_service(50, 50, affinity="AFFINITY_CLIENT_ADDRESS"))
        for c in ("client1", "client2"):
            r = self.connect(c, 40)
            self.assertEqual(r["failed"], 0)
            self.assertEqual(len(r["versions"]), 1, r)
            self.assertEqual(len(r["backends"]), 1, r)
        self.apply(web_service(50, 50, affinity="AFFINITY_FLOW"))
        r = self.connect("client1", 60)
        self.assertEqual(r["failed"], 0)
        self.assertEqual(set(r["versions"]), {"stable", "canary"}, r)

    # 4
    def test_4_blackholed_backend(self):
        """SYN-retry steering hides a dead canary; its checks shed it; one /24 ejects nothing."""
        # The lab's clients all sit in 10.77.0.0/24: their retried SYNs count
        # once per window (circuit_logic.h), so with a threshold of 2 passive
        # signals alone can never eject; the health check does the shedding.
        circuit = {"consecutive_failures": 2, "syn_retry_min_ms": 500,
                   "base_ejection_ms": 2000, "max_ejection_ms": 8000,
                   "half_open_trials": 1, "max_ejected_percent": 50}
        services = web_service(50, 50, circuit=circuit)
        services["services"][0]["health_check"] = {
            "type": "HEALTH_CHECK_TYPE_TCP", "interval_ms": 500, "timeout_ms": 300,
            "unhealthy_threshold": 2, "healthy_threshold": 1}
        self.apply(services)
        self.assertIsNotNone(self.wait_health("10.77.0.31", "HEALTH_STATE_HEALTHY", 10),
                             "10.77.0.31 never passed its checks")
        node_if = self.lab.prefix + "-canary1"
        # Four clients in parallel, as real traffic would be, already
        # connecting when the backend dies (a client's start-up can take
        # longer than the checks take to shed it): several flows meet the
        # dead backend before its checks fail, and their retried SYNs are
        # steered.
        vip = self.lab.vars["LAB_VIP"]
        flows_before = self.lab.stats()["engine"]["new_flows"]
        procs = [self.lab.popen(c, PYTHON, CLIENT, "connect", vip, "80", "1000")
                 for c in ("client1", "client2", "client1", "client2")]
        try:
            deadline = time.monotonic() + 20
            while (self.lab.stats()["engine"]["new_flows"] < flows_before + 40 and
                   time.monotonic() < deadline):
                time.sleep(0.05)
            self.lab.exec("canary1", "ip", "link", "set", node_if, "down")
            shed_after = self.wait_health("10.77.0.31", "HEALTH_STATE_UNHEALTHY", 10)
            r = {"ok": 0, "failed": 0, "connect_failed": 0, "errors": []}
            for p in procs:
                out, err = p.communicate(timeout=600)
                self.assertEqual(p.returncode, 0, err)
                one = json.loads(out.strip().splitlines()[-1])
                for k in ("ok", "failed", "connect_failed"):
                    r[k] += one[k]
                r["errors"] += one["errors"]
            stats = self.lab.stats()
            circuits = self.backend_circuit("10.77.0.31")
            print("blackhole: %d ok, %d failed (%d to connect), shed (unhealthy) after %s s, "
                  "steered %d, repeat sources %d, circuits %s" %
                  (r["ok"], r["failed"], r["connect_failed"], shed_after, stats["engine"]["syn_retry_steered"],
                   stats["engine"]["circuit_repeat_sources"], circuits))
            # Every connection opened while the backend was dead connected
            # (its retried SYN steered); only a request already in flight on
            # it when it vanished can fail, at most one per client.
            self.assertEqual(r["connect_failed"], 0, r["errors"])
            self.assertLessEqual(r["failed"], len(procs), r["errors"])
            self.assertGreater(stats["engine"]["syn_retry_steered"], 0)
            self.assertIsNotNone(shed_after, "10.77.0.31 never turned unhealthy")
            self.assertNotIn("open", circuits, "one /24's retried SYNs ejected a backend")
        finally:
            self.lab.exec("canary1", "ip", "link", "set", node_if, "up")
        # Back up: one passing check and it is HEALTHY, and new flows reach it.
        self.assertIsNotNone(self.wait_health("10.77.0.31", "HEALTH_STATE_HEALTHY", 20),
                             "10.77.0.31 never passed its checks again")
        r = self.connect("client2", 40)
        self.assertEqual(r["failed"], 0, r)
        self.assertIn("canary", r["versions"], r)
        # Shed soon is checked last so the recovery above always runs. The
        # bound: two failed checks 500 ms apart (each failing after its 300 ms
        # timeout), one stats poll: about 1 s.
        self.assertLess(shed_after, 2.0)

    # 5
    def test_5_icmp(self):
        """Ping to the VIP is answered; frag-needed goes to the flow's backend."""
        self.apply(web_service(50, 50))
        out = self.lab.exec("client1", "ping", "-c", "2", "-W", "2", self.lab.vars["LAB_VIP"])
        self.assertIn("2 received", out)
        keeper = self.lab.popen("client1", PYTHON, CLIENT, "keep", self.lab.vars["LAB_VIP"], "80", "8")
        flow = json.loads(keeper.stdout.readline())
        sniffers = {b: self.lab.popen(b, PYTHON, FRAMES, "sniff-icmp-in-ipip", self.lab.prefix + "-" + b, "6")
                    for b in ("stable1", "stable2", "canary1", "canary2")}
        time.sleep(1.5)
        self.lab.exec("router", PYTHON, FRAMES, "frag-needed", self.lab.vars["LAB_VIP"],
                      self.lab.vars["LAB_CLIENT_IPS"].split()[0], str(flow["port"]))
        seen = {}
        for b, p in sniffers.items():
            out, _ = p.communicate(timeout=30)
            seen[b] = int(out.split()[-1]) > 0 if out.split() else False
        keeper.kill()
        keeper.communicate()
        print("frag-needed for flow on %s seen at %s" % (flow["backend"], seen))
        self.assertTrue(seen[flow["backend"]])
        self.assertEqual(sum(seen.values()), 1)
        self.assertGreaterEqual(self.lab.stats()["engine"]["icmp_errors_forwarded"], 1)

    # 6
    def test_6_malformed_frames(self):
        """Malformed frames are counted and dropped; forwarding goes on."""
        self.apply(web_service(50, 50))
        before = self.lab.stats()["engine"]["drops"]
        out = self.lab.exec("client1", PYTHON, FRAMES, "malformed", self.lab.prefix + "-client1",
                            self.lab.vars["LAB_LB_MAC"], self.lab.vars["LAB_VIP"])
        sent = json.loads(out.strip().splitlines()[-1])
        time.sleep(0.5)
        after = self.lab.stats()["engine"]["drops"]
        print("malformed: sent %s" % sent)
        for reason, n in sent.items():
            self.assertGreaterEqual(after[reason] - before[reason], n, reason)
        r = self.connect("client2", 5)
        self.assertEqual(r["failed"], 0)

    # 7
    @unittest.skipUnless(DATAPLANE == "xdp", "DPDK forwards only while sluiced runs")
    def test_7_kill9_under_load(self):
        """SIGKILL of sluiced under load: nothing breaks; the restart adopts the pins."""
        generation = self.apply(web_service(50, 50))
        prog_before = self.xdp_program_id()
        self.assertIsNotNone(prog_before, "no XDP program on the lb's veth")
        vip = self.lab.vars["LAB_VIP"]
        holders = [self.lab.popen(c, PYTHON, CLIENT, "hold", vip, "80", "20", "8", "0.2")
                   for c in ("client1", "client2")]
        connector = self.lab.popen("client2", PYTHON, CLIENT, "connect", vip, "80", "400")
        time.sleep(2.0)
        self.lab.run("lb-kill")
        killed = time.monotonic()
        time.sleep(1.5)  # nobody runs the control plane now
        self.lab.run("lb-restart", timeout=60)
        print("kill -9: sluiced down for %.1f s" % (time.monotonic() - killed))
        results = []
        for p in holders + [connector]:
            out, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, err)
            results.append(json.loads(out.strip().splitlines()[-1]))
        print("kill -9: hold %s; connect %s" % (results[:2], {k: results[2][k] for k in ("ok", "failed")}))
        for r in results[:2]:
            self.assertEqual(r["errors"], 0, r["error_samples"])
            self.assertEqual(r["stalls"], 0)
            self.assertEqual(r["switched"], 0)
        self.assertEqual(results[2]["failed"], 0, results[2]["errors"])
        self.assertEqual(results[2]["ok"], 400)
        # Adopted: the same program, the same configuration, no generation lost.
        self.assertEqual(self.xdp_program_id(), prog_before)
        # The restart republishes the saved revision; the writer numbers it
        # one above the adopted root (generations never repeat in the maps).
        stats = self.lab.stats()
        self.assertIn(stats["generation"], (generation, generation + 1))
        self.assertIn("adopt", self.lab.sluiced_log().lower())
        # And the restarted control plane works.
        self.assertGreater(self.apply(web_service(80, 20)), generation)
        self.assertEqual(self.connect("client1", 20)["failed"], 0)

    # 8
    @unittest.skipUnless(DATAPLANE == "dpdk", "the exception thread and its policer are DPDK's")
    def test_8_host_flood_is_policed(self):
        """A flood to the appliance's own address is policed off the workers; VIPs keep working.

        50,000 frames, far more than the mbuf pool holds (8191): in the
        lab's no-hugepage profile a pool laid out for IOVA contiguity made
        net_af_xdp stop receiving for good after about 4,200 host frames
        (runtime.cc, create_mbuf_pool), so the flood must make the pool's
        mbufs circulate."""
        rate, burst = 50, 10
        self.lab.run("lb-stop", timeout=60)
        self.lab.run("lb-restart", "--", "--profile-set", "exception.rate_pps=%d" % rate,
                     "--profile-set", "exception.burst=%d" % burst, timeout=60)
        self.assertEqual(self.connect("client1", 5)["failed"], 0)
        def host_counters():
            workers = self.lab.stats()["workers"]
            return {k: sum(w.get(k, 0) for w in workers)
                    for k in ("host_policed", "host_tx_packets", "host_ring_full", "rx_packets")}
        before = host_counters()
        out = self.lab.exec("client1", PYTHON, FRAMES, "host-flood", self.lab.prefix + "-client1",
                            self.lab.vars["LAB_LB_MAC"], self.lab.vars["LAB_LB_IP"], "50000",
                            timeout=120)
        flood = json.loads(out.strip().splitlines()[-1])
        time.sleep(1.0)  # the stats file is written every interval
        after = host_counters()
        delta = {k: after[k] - before[k] for k in after}
        # At most burst + rate per second of the flood (and of the second
        # after it) reach the kernel; a margin for the lab's own ARP and ND.
        allowed = burst + rate * (flood["seconds"] + 2) + 50
        print("host flood: %s, worker counters %s (at most %d allowed through)" %
              (flood, delta, allowed))
        self.assertLessEqual(delta["host_tx_packets"], allowed)
        # The worker received more frames than the pool holds (the veth may
        # drop some of the flood before it), and policed all but what passed.
        self.assertGreater(delta["rx_packets"], 10000)
        self.assertGreaterEqual(delta["host_policed"] + delta["host_ring_full"],
                                delta["rx_packets"] - allowed)
        # VIP traffic is not policed, reception still works after the flood,
        # and the kernel still answers ARP for the lb once the bucket refills.
        time.sleep(1.0)
        self.assertEqual(self.connect("client2", 20)["failed"], 0)

    # 9
    @unittest.skipUnless(DATAPLANE == "dpdk", "the exception TAP is DPDK's")
    def test_9_exception_tap_set_up_by_sluiced(self):
        """sluiced gives its TAP the port's MTU and the lb's addresses, and gives them back.

        The lab no longer moves addresses itself (tools/lab launch_sluiced):
        after a kill -9 the addresses, gone with the TAP, come back with the
        next start from sluiced's record; after a stop they are on the veth
        again."""
        tap, veth = self.lab.prefix + "-tap", self.lab.vars["LAB_LB_IF"]
        lb4, lb6 = self.lab.vars["LAB_LB_IP"], self.lab.vars["LAB_LB_IP6"]

        def link(dev):
            out = self.lab.exec("lb", "ip", "-j", "addr", "show", "dev", dev)
            info = json.loads(out)[0]
            return info["mtu"], {a["local"] for a in info["addr_info"] if a.get("scope") == "global"}

        def tap_exists():
            return subprocess.run(["ip", "netns", "exec", self.lab.vars["LAB_LB_NS"], "ip", "link",
                                   "show", "dev", tap], capture_output=True).returncode == 0

        def host_answers():
            out = self.lab.exec("client1", "ping", "-c", "2", "-W", "2", lb4)
            return "2 received" in out

        veth_mtu, _ = link(veth)
        tap_mtu, on_tap = link(tap)
        print("exception TAP: MTU %d (port %d), addresses %s" % (tap_mtu, veth_mtu, sorted(on_tap)))
        self.assertEqual(tap_mtu, veth_mtu)
        self.assertEqual(on_tap, {lb4, lb6})
        self.assertEqual(link(veth)[1], set())
        self.assertTrue(host_answers())
        # kill -9: the TAP and its addresses go; the restart brings them back.
        self.lab.run("lb-kill")
        self.assertFalse(tap_exists())
        self.lab.run("lb-restart", timeout=60)
        self.assertEqual(link(tap)[1], {lb4, lb6})
        self.assertTrue(host_answers())
        self.assertEqual(self.connect("client1", 5)["failed"], 0)
        # A stop gives the veth its addresses back.
        self.lab.run("lb-stop", timeout=60)
        self.assertFalse(tap_exists())
        self.assertEqual(link(veth)[1], {lb4, lb6})
        self.lab.run("lb-restart", timeout=60)
        self.assertEqual(link(tap)[1], {lb4, lb6})

    def xdp_program_id(self):
        out = self.lab.exec("lb", "ip", "-details", "link", "show", "dev", self.lab.prefix + "-lb")
        for line in out.splitlines():
            words = line.split()
            if "prog/xdp" in words and "id" in words:
                return int(words[words.index("id") + 1])
        return None


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root (network namespaces, DPDK, BPF)")
        return 77
    try:
        import scapy  # noqa: F401
    except ImportError:
        print("SKIP: needs python3-scapy")
        return 77
    result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
