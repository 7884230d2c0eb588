#!/usr/bin/python3
"""DPDK flows survive a restart of sluiced (README "Restart").

sluiced on DPDK (net_af_xdp on the lb's veth, tools/lab) keeps each worker's
flow table in a file on tmpfs (dataplane/dpdk/flow_store.h); a restarted
sluiced adopts it. The test makes the flows that only a flow table can keep
where they are, then kills sluiced with SIGKILL and starts it again with the
same options:

  - 40 long-lived connections placed at 50/50 (group A), then the weights
    move to 80/20 and the stable backend 10.77.0.21 is set draining: A's
    canary connections that Maglev would now send to stable, and all of A's
    connections on 10.77.0.21, stay where they are only through their
    flow-table entries;
  - 10 more long-lived connections placed after the change (group B);
  - kill -9 sluiced, restart it at once (same options, same state).

Expected: every connection keeps exchanging data on its backend: 0 errors
(a connection rescheduled to another backend is answered with a reset), 0
switched backends, at most one slow request per connection (the one in
flight while no sluiced forwarded), and the restarted sluiced reports the
adopted flows (flows_adopted in the stats, "adopted" in its log).

Needs root, the built sluiced and BPF objects (meson passes their paths)
and python3-scapy (the lab's frames). Exits 77 (skip) without root. Cleans
up its lab on every path.
"""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dataplane_e2e_test import CLIENT, PYTHON, DataplaneEndToEndTest, web_service  # noqa: E402

# The backend set draining, and the name it answers with (X-Backend).
DRAINING = ("10.77.0.21", "stable1")


class DpdkRestartTest(DataplaneEndToEndTest):
    """The lab, sluiced and helpers of the dataplane suite; main() runs
    only the test below, not the suite's own."""

    def hold(self, node, count, seconds):
        return self.lab.popen(node, PYTHON, CLIENT, "hold", self.lab.vars["LAB_VIP"], "80",
                              str(count), str(seconds), "0.2")

    def test_kill9_keeps_every_connection(self):
        """kill -9 and restart: 0 of 50 long-lived connections reset or moved."""
        self.apply(web_service(50, 50))
        group_a = [self.hold("client1", 20, 22), self.hold("client2", 20, 22)]
        time.sleep(1.5)  # all 40 connected (10 ms apart)
        self.apply(web_service(80, 20))
        self.apply(web_service(80, 20, draining=(DRAINING[0],)))
        group_b = [self.hold("client2", 10, 17)]
        time.sleep(2.0)
        self.lab.run("lb-kill")
        killed = time.monotonic()
        self.lab.run("lb-restart", timeout=60)
        down = time.monotonic() - killed
        results = []
        for p in group_a + group_b:
            out, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
            results.append(json.loads(out.strip().splitlines()[-1]))
        log = self.lab.sluiced_log()
        stats = self.lab.stats()
        adopted = sum(w.get("flows_adopted", 0) for w in stats["workers"])
        refused = sum(w.get("flow_state_refused", 0) for w in stats["workers"])
        print("restart: sluiced down %.1f s; %d flow(s) adopted, %d file(s) refused" %
              (down, adopted, refused))
        for name, r in zip(("A client1", "A client2", "B client2"), results):
            print("  %s: %s" % (name, {k: r[k] for k in ("connections", "requests", "errors",
                                                        "stalls", "switched", "backends")}))
        # The test means something only if A had connections that nothing
        # but their entries keep in place: on the draining backend.
        self.assertGreater(sum(r["backends"].get(DRAINING[1], 0) for r in results[:2]), 0,
                           "no connection of group A on %s" % DRAINING[1])
        for r in results:
            self.assertEqual(r["errors"], 0, "connections reset or timed out: %s\nlog:\n%s" %
                             (r["error_samples"], log))
            self.assertEqual(r["switched"], 0)
            # One slow request per connection at most: the one in flight
            # while no sluiced ran.
            self.assertLessEqual(r["stalls"], r["connections"])
            self.assertGreater(r["requests"], r["connections"] * 20)
        self.assertGreater(adopted, 0, log)
        self.assertEqual(refused, 0, log)
        self.assertIn("adopted", log)


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root (network namespaces, DPDK)")
        return 77
    try:
        import scapy  # noqa: F401
    except ImportError:
        print("SKIP: needs python3-scapy")
        return 77
    only = "DpdkRestartTest.test_kill9_keeps_every_connection"  # not the inherited suite
    result = unittest.main(argv=[sys.argv[0], "-v", only], exit=False).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
