#!/usr/bin/env bash
# Every shipped lab profile carries real TCP: for each of
#   lab-af-xdp, lab-af-packet            (no hugepages, --no-huge -m 512)
#   lab-af-xdp-hugepages, lab-af-packet-hugepages  (--in-memory, 2 MB pages)
# start sluiced in the lab with it, make 20 HTTP connections through the VIP
# (both pools must answer), ping the VIP and the balancer's own address (ARP
# and ICMP through the exception TAP), stop sluiced.
# The hugepage profiles get 512 2 MB pages reserved for the run; the previous
# reservation is restored on every exit path, as is the lab (torn down).
# Exit 77 (skip) without root.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
LAB="$REPO/tools/lab"
HUGE=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages

[[ $EUID -eq 0 ]] || { echo "SKIP: needs root"; exit 77; }

export SLUICE_LAB_PREFIX="p$(printf '%04x' $((RANDOM % 65536)))"
services="$(mktemp --suffix=.json)"
huge_before="$(cat "$HUGE" 2>/dev/null || echo 0)"
cleanup() {
	local rc=$?
	"$LAB" down >/dev/null 2>&1 || true
	[[ -w "$HUGE" ]] && echo "$huge_before" >"$HUGE" 2>/dev/null || true
	rm -f "$services"
	exit "$rc"
}
trap cleanup EXIT

cat >"$services" <<'JSON'
{"services": [{"name": "web", "vip": "10.77.100.10", "port": 80, "protocol": "PROTOCOL_TCP",
  "pools": [{"name": "stable", "weight": 50, "backends": [{"address": "10.77.0.21"}, {"address": "10.77.0.22"}]},
            {"name": "canary", "weight": 50, "backends": [{"address": "10.77.0.31"}, {"address": "10.77.0.32"}]}]}]}
JSON

"$LAB" up >/dev/null
failures=0
for profile in lab-af-xdp lab-af-packet lab-af-xdp-hugepages lab-af-packet-hugepages; do
	if [[ $profile == *hugepages ]]; then
		echo 512 >"$HUGE"
		[[ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)" -ge 256 ]] ||
			{ echo "FAIL $profile: could not reserve hugepages"; failures=$((failures + 1)); continue; }
	fi
	if ! SLUICE_LAB_PROFILE=$profile "$LAB" lb-start "$services" >/dev/null; then
		echo "FAIL $profile: sluiced did not start"
		failures=$((failures + 1))
		continue
	fi
	versions="$(for i in $(seq 20); do
		"$LAB" exec client1 -- curl -s -m 5 http://10.77.100.10/ || echo "curl-failed"
	done | sort | uniq -c)"
	ping_vip="$("$LAB" exec client2 -- ping -c 1 -W 2 10.77.100.10 >/dev/null && echo ok || echo failed)"
	ping_lb="$("$LAB" exec client2 -- ping -c 1 -W 2 10.77.0.2 >/dev/null && echo ok || echo failed)"
	"$LAB" lb-stop
	if grep -q curl-failed <<<"$versions" || ! grep -q "version=stable" <<<"$versions" ||
		! grep -q "version=canary" <<<"$versions" || [[ $ping_vip != ok || $ping_lb != ok ]]; then
		echo "FAIL $profile: ping VIP $ping_vip, ping lb $ping_lb, answers:"
		echo "$versions"
		failures=$((failures + 1))
	else
		echo "ok   $profile: $(tr -s ' \n' ' ' <<<"$versions"), ping VIP $ping_vip, ping lb $ping_lb"
	fi
	[[ $profile == *hugepages ]] && echo "$huge_before" >"$HUGE"
done
echo "$((4 - failures)) passed, $failures failed"
((failures == 0))
