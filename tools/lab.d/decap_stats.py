#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Prints the decapsulator's counters on one backend interface, for
`tools/lab status`:  decap: ipip=N gue=N passed=N bad=N failed=N

usage: decap_stats.py NAMESPACE INTERFACE

Finds the tc ingress program on INTERFACE (bpftool net, run inside the
namespace), its decap_stats map (program and map ids are global), and sums
the per-CPU values. Counter order: ebpf/decap/decap.h.
"""

import json
import subprocess
import sys

BPFTOOL = "/usr/sbin/bpftool"
COUNTERS = ["ipip", "gue", "passed", "bad", "failed"]  # enum sluice_decap_counter


def bpftool(*args, netns=None):
    cmd = [BPFTOOL, "-j", *args]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL).stdout
    return json.loads(out)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    netns, dev = sys.argv[1], sys.argv[2]
    progs = [t["id"] for entry in bpftool("net", "show", "dev", dev, netns=netns)
             for t in entry.get("tc", []) if t.get("kind") == "clsact/ingress"]
    if not progs:
        sys.exit("no tc ingress program on %s" % dev)
    for map_id in bpftool("prog", "show", "id", str(progs[0])).get("map_ids", []):
        if bpftool("map", "show", "id", str(map_id)).get("name") != "decap_stats":
            continue
        totals = [0] * len(COUNTERS)
        for entry in bpftool("map", "dump", "id", str(map_id)):
            key = entry["formatted"]["key"]
            if key < len(COUNTERS):
                totals[key] = sum(v["value"] for v in entry["formatted"]["values"])
        print("decap: " + " ".join("%s=%d" % kv for kv in zip(COUNTERS, totals)))
        return
    sys.exit("program %d has no decap_stats map" % progs[0])


if __name__ == "__main__":
    main()
