#!/usr/bin/python3
"""The sluice demo: a canary rollout through the DPDK dataplane, in the lab.

Brings a lab up (tools/lab), starts sluiced on the load balancer's veth,
configures a service with stable 90 / canary 10 and client-address affinity,
then ramps the canary 10 -> 50 -> 100 -> 0. At every step 100 clients (50
source addresses in each client namespace) open new connections, and the
demo prints the measured split, how many clients changed version, and the
state of 20 long-lived connections that stay open through all the changes.
It checks what it shows (exit 1 if a promise is broken) and tears the lab
down on every exit path. Run as root: tools/demo.
"""
import json
import os
import re
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LAB = os.path.join(REPO, "tools", "lab")
PYTHON = "/usr/bin/python3"
CLIENT = os.path.join(HERE, "http_client.py")
CLIENTS = {"client1": ["10.77.0.%d" % i for i in range(101, 151)],
           "client2": ["10.77.0.%d" % i for i in range(151, 201)]}
STEPS = [(90, 10), (50, 50), (0, 100), (100, 0)]
CONNS_PER_CLIENT = 3
HOLD_SECONDS = 16  # the long-lived connections span every step
STEP_PAUSE = 2.5   # seconds between weight changes

ENV = dict(os.environ, SLUICE_LAB_PREFIX=os.environ.get("SLUICE_LAB_PREFIX",
                                                        "dm%04x" % random.randrange(65536)))
problems = []


def lab(*args, timeout=120):
    p = subprocess.run([LAB, *args], env=ENV, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("tools/lab %s: %s%s" % (" ".join(args), p.stdout, p.stderr))
    return p.stdout


def services(stable, canary):
    pool = lambda name, w, addrs: {"name": name, "weight": w,
                                   "backends": [{"address": a} for a in addrs]}
    return {"services": [{
        "name": "web", "vip": "10.77.100.10", "port": 80, "protocol": "PROTOCOL_TCP",
        "affinity": "AFFINITY_CLIENT_ADDRESS", "encapsulation": "ENCAPSULATION_IPIP",
        "pools": [pool("stable", stable, ["10.77.0.21", "10.77.0.22"]),
                  pool("canary", canary, ["10.77.0.31", "10.77.0.32"])],
        "fallback_pool": "stable"}]}


def write_json(path, doc):
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=2)
    os.rename(path + ".tmp", path)


def stats():
    return json.loads(lab("lb-stats"))


def apply(stable, canary):
    """Sets the weights through the control API and waits until every worker forwards with them."""
    out = lab("ctl", "--", "set-weights", "web", "stable=%d" % stable, "canary=%d" % canary, "--wait")
    match = re.search(r"revision (\d+)", out)
    if not match or "applied on every worker" not in out:
        raise RuntimeError("set-weights did not report an applied revision: " + out)
    return int(match.group(1))


def run_clients():
    """Each client address opens CONNS_PER_CLIENT connections; returns {addr: result}."""
    procs = [subprocess.Popen([LAB, "exec", node, "--", PYTHON, CLIENT, "clients", "10.77.100.10",
                               "80", str(CONNS_PER_CLIENT), *addrs], env=ENV,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
             for node, addrs in CLIENTS.items()]
    results = {}
    for p in procs:
        out, _ = p.communicate(timeout=300)
        results.update(json.loads(out.strip().splitlines()[-1]))
    return results


def version_of(result):
    if len(result["versions"]) != 1:
        return "mixed"
    return next(iter(result["versions"]))


def main():
    if os.geteuid() != 0:
        print("tools/demo needs root (network namespaces, DPDK, BPF)", file=sys.stderr)
        return 2
    services_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False).name
    hold = None
    try:
        print("==> building the lab (tools/lab up, prefix %s)" % ENV["SLUICE_LAB_PREFIX"])
        lab("up")
        for node, addrs in CLIENTS.items():
            for a in addrs:
                lab("exec", node, "--", "ip", "addr", "add", a + "/24", "dev",
                    ENV["SLUICE_LAB_PREFIX"] + "-" + node)
        write_json(services_file, services(90, 10))
        if os.environ.get("SLUICE_LAB_DATAPLANE", "dpdk") == "xdp":
            print("==> starting sluiced on the load balancer's veth (the XDP program, attached and pinned)")
        else:
            print("==> starting sluiced on the load balancer's veth (DPDK, net_af_xdp)")
        print("    " + lab("lb-start", services_file).strip())
        print("    sluicectl apply: service web 10.77.100.10:80/tcp, client-address affinity,")
        print("    pools stable [10.77.0.21, .22] and canary [10.77.0.31, .32]")
        print("    each step below is `sluicectl set-weights web stable=S canary=C --wait`")
        print("==> opening 20 long-lived connections (a request every 200 ms until the end)")
        hold = subprocess.Popen([LAB, "exec", "client1", "--", PYTHON, CLIENT, "hold", "10.77.100.10",
                                 "80", "20", str(HOLD_SECONDS), "0.2"], env=ENV, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        print()
        print("%-6s %-14s %-18s %-16s %-16s %s" % ("step", "stable/canary", "clients on canary",
                                                  "moved to canary", "moved to stable", "failed"))
        previous = None
        started = time.monotonic()
        for step, (stable, canary) in enumerate(STEPS, 1):
            revision = apply(stable, canary)
            results = run_clients()
            versions = {a: version_of(r) for a, r in results.items()}
            failed = sum(r["failed"] for r in results.values())
            on_canary = sum(v == "canary" for v in versions.values())
            mixed = sum(v == "mixed" for v in versions.values())
            to_canary = to_stable = 0
            if previous:
                to_canary = sum(previous[a] == "stable" and versions[a] == "canary" for a in versions)
                to_stable = sum(previous[a] == "canary" and versions[a] == "stable" for a in versions)
                rising = canary > STEPS[step - 2][1]
                if rising and to_stable:
                    problems.append("step %d: %d clients left the canary while its weight rose" %
                                    (step, to_stable))
            if failed:
                problems.append("step %d: %d connections failed" % (step, failed))
            if mixed:
                problems.append("step %d: %d clients saw both versions" % (step, mixed))
            expected = canary * len(versions) / 100.0
            if abs(on_canary - expected) > 15:  # 100 clients: a few points of noise
                problems.append("step %d: %d clients on canary, expected about %d" %
                                (step, on_canary, expected))
            print("%-6d %-14s %-18s %-16s %-16s %d   (revision %d)" % (
                step, "%d/%d" % (stable, canary), "%d of %d" % (on_canary, len(versions)),
                to_canary if previous else "-", to_stable if previous else "-", failed, revision))
            if step == 1:
                per_backend = {}
                for r in results.values():
                    for b, n in r["backends"].items():
                        per_backend[b] = per_backend.get(b, 0) + n
                print("       connections per backend: " +
                      ", ".join("%s %d" % kv for kv in sorted(per_backend.items())))
            previous = versions
            time.sleep(STEP_PAUSE)
        remaining = HOLD_SECONDS - (time.monotonic() - started) + 2
        print()
        print("==> waiting %.0f s for the long-lived connections to finish" % max(remaining, 0))
        out, _ = hold.communicate(timeout=max(remaining, 0) + 60)
        held = json.loads(out.strip().splitlines()[-1])
        hold = None
        print("    %d connections, %d requests, %d errors/resets, %d stalls, %d changed backend" %
              (held["connections"], held["requests"], held["errors"], held["stalls"], held["switched"]))
        if held["errors"] or held["stalls"] or held["switched"]:
            problems.append("long-lived connections were disturbed: %s" % held)
        engine = stats()["engine"]
        print("==> sluiced counters: %d frames, %d forwarded, %d new flows, %d to the kernel, "
              "%d dropped" % (engine["rx_packets"], engine["forwarded"], engine["new_flows"],
                              engine["to_host"], engine["dropped"]))
    finally:
        if hold:
            hold.kill()
        print("==> tearing the lab down")
        subprocess.run([LAB, "down"], env=ENV, stdin=subprocess.DEVNULL, capture_output=True)
        os.unlink(services_file)
    if problems:
        print("\nDEMO FAILED:")
        for p in problems:
            print("  - " + p)
        return 1
    print("\nEvery client stayed on its version unless the weights moved it there; no client left")
    print("the canary while its weight rose; every long-lived connection survived every change.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
