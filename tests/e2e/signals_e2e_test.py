#!/usr/bin/python3
"""End-to-end tests of sluice's signals in the namespace lab, on either
dataplane (SLUICE_LAB_DATAPLANE=dpdk or xdp; meson runs the file for each):

  1. A real Prometheus server, started in the lb namespace by the test,
     scrapes sluiced's /metrics while clients connect; PromQL returns the
     canary's handshakes as the clients counted them, and the canary's
     connect success ratio over 30 s (1.0: no connect failed).
  2. Active HTTP health checks: stopping canary1's HTTP server takes it out
     within interval x unhealthy_threshold (+ one interval); meanwhile the
     only failed client connections are those sent to canary1 itself (0 to
     the other backends), afterwards none fail and none reach canary1;
     starting the server again brings it back.
  3. Drain status: a backend holding long-lived connections is set draining;
     `sluicectl drain status` shows them and says not drained (exit 3);
     once they close, `--wait-empty` reports it drained within the quiet
     time (exit 0).

Needs root, the built sluiced and sluicectl, Prometheus (Debian package
prometheus) and python3. Exits 77 (skip) without root. Stops only the
processes it started (by PID) and removes its own lab.
"""
import json
import os
import random
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dataplane_e2e_test import CLIENT, LAB, PYTHON, Lab, web_service  # noqa: E402

METRICS_PORT = 19000 + random.randrange(500)
PROM_PORT = METRICS_PORT + 500


def health_check(interval_ms, unhealthy, healthy):
    return {"type": "HEALTH_CHECK_TYPE_HTTP", "interval_ms": interval_ms, "timeout_ms": 300,
            "unhealthy_threshold": unhealthy, "healthy_threshold": healthy, "http_path": "/"}


class SignalsEndToEndTest(unittest.TestCase):
    lab = None

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab()
        cls.tmp = tempfile.mkdtemp(prefix="sluice-signals-")
        cls.services_file = os.path.join(cls.tmp, "services.json")
        cls.write_services(web_service())
        try:
            cls.lab.up()
            cls.lab.run("lb-start", cls.services_file, "--",
                        "--metrics-listen", "127.0.0.1:%d" % METRICS_PORT, timeout=60)
        except BaseException:
            cls.lab.down()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.lab:
            cls.lab.down()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def write_services(cls, services):
        with open(cls.services_file + ".tmp", "w") as f:
            json.dump(services, f)
        os.rename(cls.services_file + ".tmp", cls.services_file)

    def apply(self, services):
        self.write_services(services)
        self.lab.run("lb-reload")

    def ctl(self, *args, check=True, timeout=120):
        """sluicectl on the lab's API socket; the completed process."""
        p = subprocess.run([LAB, "ctl", "--", *args], env=self.lab.environ, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("sluicectl %s failed (%d): %s %s" % (args, p.returncode, p.stdout, p.stderr))
        return p

    def first_event(self, needles, timeout):
        """The first event (a JSON line) from sequence 1 whose text holds
        every string of `needles`, read from `sluicectl events`, which
        follows the stream. Read unbuffered: select() cannot see lines
        already sitting in a Python file object's buffer."""
        p = subprocess.Popen([LAB, "ctl", "--", "events", "--since", "1", "-o", "json"],
                             env=self.lab.environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        seen, pending = [], b""
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([p.stdout], [], [], 0.5)
                if not ready:
                    continue
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    text = line.decode()
                    if all(n in text for n in needles):
                        return text
                    seen.append(text)
            raise AssertionError("no event with %s within %s s; the last of %d read:\n%s" %
                                 (needles, timeout, len(seen), "\n".join(seen[-5:])))
        finally:
            p.terminate()
            p.wait(timeout=10)
            p.stdout.close()

    def stats(self):
        return json.loads(self.ctl("stats", "-o", "json").stdout)

    def backend(self, stats, address):
        for svc in stats.get("services", []):
            for pool in svc.get("pools", []):
                for b in pool.get("backends", []):
                    if b["address"] == address:
                        return b
        raise AssertionError("no backend %s in stats" % address)

    def pool(self, stats, name):
        for svc in stats.get("services", []):
            for pool in svc.get("pools", []):
                if pool["name"] == name:
                    return pool
        raise AssertionError("no pool %s in stats" % name)

    def health(self, address):
        return self.backend(self.stats(), address).get("health", {}).get("state", "HEALTH_STATE_UNKNOWN")

    def connect(self, node, count):
        out = self.lab.exec(node, PYTHON, CLIENT, "connect", self.lab.vars["LAB_VIP"], "80", str(count),
                            timeout=300)
        return json.loads(out.strip().splitlines()[-1])

    # 1
    def test_1_prometheus_scrapes_the_golden_signals(self):
        """A real Prometheus scrapes sluiced under traffic; PromQL matches the client's counts."""
        if not shutil.which("prometheus"):
            self.skipTest("prometheus is not installed (Debian package prometheus)")
        self.apply(web_service(70, 30))
        config = os.path.join(self.tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: sluice\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % METRICS_PORT)
        data = os.path.join(self.tmp, "prometheus-data")
        log = open(os.path.join(self.tmp, "prometheus.log"), "w")
        # `ip netns exec` execs Prometheus itself: the PID is the server's.
        prom = subprocess.Popen(["ip", "netns", "exec", self.lab.prefix + "-lb", "prometheus",
                                 "--config.file", config, "--storage.tsdb.path", data,
                                 "--web.listen-address", "127.0.0.1:%d" % PROM_PORT],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            self.wait_for_scrapes(2)
            before = self.promql('sum(sluice_pool_handshakes_completed_total{service="web",pool="canary"})')
            r = self.connect("client1", 200)
            self.assertEqual(r["failed"], 0, r["errors"])
            canary = r["versions"].get("canary", 0)
            self.assertGreater(canary, 20)
            # Prometheus sees the counters of a scrape after the traffic.
            deadline = time.monotonic() + 20
            after = before
            while time.monotonic() < deadline:
                after = self.promql('sum(sluice_pool_handshakes_completed_total{service="web",pool="canary"})')
                if after - before >= canary:
                    break
                time.sleep(0.5)
            time.sleep(2)
            after = self.promql('sum(sluice_pool_handshakes_completed_total{service="web",pool="canary"})')
            ratio = self.promql(
                'sum(increase(sluice_pool_handshakes_completed_total{service="web",pool="canary"}[30s])) / ('
                'sum(increase(sluice_pool_handshakes_completed_total{service="web",pool="canary"}[30s])) + '
                'sum(increase(sluice_pool_connect_failures_total{service="web",pool="canary"}[30s])) + '
                'sum(increase(sluice_pool_handshakes_expired_total{service="web",pool="canary"}[30s])))')
            hist = self.promql('sum(sluice_pool_handshake_duration_seconds_count{service="web",pool="canary"})')
            print("prometheus: canary handshakes %d (clients saw %d), connect success ratio %.3f" %
                  (after - before, canary, ratio))
            self.assertEqual(after - before, canary)
            self.assertAlmostEqual(ratio, 1.0, places=6)
            self.assertGreaterEqual(hist, canary)
        finally:
            prom.terminate()
            try:
                prom.wait(timeout=10)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
            log.close()

    def promql(self, query):
        url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (PROM_PORT, urllib.parse.quote(query))
        out = self.lab.exec("lb", "curl", "-sf", url, timeout=30)
        body = json.loads(out)
        self.assertEqual(body["status"], "success", body)
        result = body["data"]["result"]
        self.assertTrue(result, "no result for %s" % query)
        return float(result[0]["value"][1])

    def wait_for_scrapes(self, n):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.promql('count_over_time(sluice_uptime_seconds[1m])') >= n:
                    return
            except (AssertionError, json.JSONDecodeError, KeyError, IndexError):
                pass
            time.sleep(0.5)
        self.fail("Prometheus did not scrape sluiced within 60 s")

    # 2
    def test_2_health_check_takes_a_dead_backend_out(self):
        """An HTTP server stopped: out within interval x threshold + interval; back when restarted."""
        interval_ms, unhealthy, healthy = 500, 2, 2
        svc = web_service(50, 50)
        svc["services"][0]["health_check"] = health_check(interval_ms, unhealthy, healthy)
        self.apply(svc)
        deadline = time.monotonic() + 10
        addresses = ("10.77.0.21", "10.77.0.22", "10.77.0.31", "10.77.0.32")
        while time.monotonic() < deadline:
            if all(self.health(a) == "HEALTH_STATE_HEALTHY" for a in addresses):
                break
            time.sleep(0.1)
        for a in addresses:
            self.assertEqual(self.health(a), "HEALTH_STATE_HEALTHY", a)

        before = int(self.backend(self.stats(), "10.77.0.31")["traffic"]["new_flows"])
        vip = self.lab.vars["LAB_VIP"]
        load = self.lab.popen("client2", PYTHON, CLIENT, "connect", vip, "80", "150")
        # The server dies somewhere inside server-stop: from before it, the
        # time to unhealthy is an upper bound; from after it, a lower one.
        stopping = time.monotonic()
        self.lab.run("server-stop", "canary1")
        stopped = time.monotonic()
        try:
            took = None
            while time.monotonic() < stopped + 10:
                if self.health("10.77.0.31") == "HEALTH_STATE_UNHEALTHY":
                    took = time.monotonic() - stopping
                    at_least = time.monotonic() - stopped
                    break
                time.sleep(0.05)
            out, err = load.communicate(timeout=300)
            self.assertEqual(load.returncode, 0, err)
            during = json.loads(out.strip().splitlines()[-1])
            sent_to_dead = int(self.backend(self.stats(), "10.77.0.31")["traffic"]["new_flows"]) - before
            self.assertIsNotNone(took, "canary1 never turned unhealthy")
            print("health: canary1 unhealthy %.2f..%.2f s after its server stopped (bound %.2f s); "
                  "during: %d ok, %d failed, %d flows sent to canary1" %
                  (at_least, took, (unhealthy + 1) * interval_ms / 1000.0 + 0.25,
                   during["ok"], during["failed"], sent_to_dead))
            # Every failed connection is one that went to canary1: none to the others.
            self.assertEqual(during["failed"], int(sent_to_dead), during["errors"])
            after = self.connect("client1", 100)
            self.assertEqual(after["failed"], 0, after["errors"])
            self.assertNotIn("canary1", after["backends"])
            self.assertIn("canary2", after["backends"])
            changed = json.loads(self.first_event(
                ('"health_changed"', '"10.77.0.31"', '"to":"HEALTH_STATE_UNHEALTHY"'), timeout=30))
            self.assertEqual(changed["health_changed"]["pool"], "canary", changed)
        finally:
            self.lab.run("server-start", "canary1")
        restarted = time.monotonic()
        back = None
        while time.monotonic() < restarted + 10:
            if self.health("10.77.0.31") == "HEALTH_STATE_HEALTHY":
                back = time.monotonic() - restarted
                break
            time.sleep(0.05)
        print("health: canary1 healthy again after %s s" % back)
        self.assertIsNotNone(back, "canary1 never came back")
        again = self.connect("client1", 100)
        self.assertEqual(again["failed"], 0, again["errors"])
        self.assertIn("canary1", again["backends"])
        # Checked last, so that the server always restarts above.
        self.assertLessEqual(took, (unhealthy + 1) * interval_ms / 1000.0 + 0.25)
        # One failed check is not enough: `unhealthy` of them, an interval apart.
        self.assertGreaterEqual(took, (unhealthy - 1) * interval_ms / 1000.0 - 0.05)

    # 3
    def test_3_drain_status(self):
        """Long-lived connections keep a draining backend busy; closed, it drains within the quiet time."""
        # Only canary1 takes new flows.
        self.apply(web_service(0, 100, draining=("10.77.0.32",)))
        time.sleep(0.5)
        vip = self.lab.vars["LAB_VIP"]
        hold = self.lab.popen("client1", PYTHON, CLIENT, "hold", vip, "80", "10", "6", "0.2")
        time.sleep(2.0)
        self.ctl("backend", "drain", "web", "10.77.0.31")
        busy = self.ctl("drain", "status", "web", "10.77.0.31", "--quiet", "2s", "-o", "json", check=False)
        self.assertEqual(busy.returncode, 3, busy.stdout + busy.stderr)
        status = json.loads(busy.stdout)
        print("drain: while held: %s" % {k: status.get(k) for k in ("active_flows", "oldest_age_ms", "idle_ms")})
        self.assertGreaterEqual(int(status["active_flows"]), 10)
        self.assertFalse(status["safe_to_remove"])
        out, err = hold.communicate(timeout=120)
        self.assertEqual(hold.returncode, 0, err)
        held = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(held["errors"], 0, held["error_samples"])
        closed = time.monotonic()
        done = self.ctl("drain", "status", "web", "10.77.0.31", "--quiet", "2s", "--wait-empty",
                        "--timeout", "20s", "--interval", "250ms", check=False, timeout=60)
        took = time.monotonic() - closed
        print("drain: drained %.1f s after the connections closed (quiet time 2 s)" % took)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertLess(took, 2.0 + 1.5)


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root (network namespaces, DPDK, BPF)")
        return 77
    result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
