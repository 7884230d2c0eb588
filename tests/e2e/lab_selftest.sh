#!/usr/bin/env bash
# Self-test of tools/lab, without sluiced: brings a lab up under a unique
# prefix, then
#  (a) curls every backend's own address (IPv4, and IPv6 for one) from the
#      clients across the lab's bridge and checks body and X-Backend header;
#  (b) plays the balancer by hand (tests/e2e/dsr_probe.py): a SYN to the VIP,
#      encapsulated as the engine does (IPIP and GUE; 4in4, 6in6, 4in6) and
#      sent from the lb namespace to the router's MAC, must make the backend
#      (decapsulator + VIP on lo) answer the client directly with a SYN-ACK;
#      GUE to a port the decapsulator does not own must not;
#  (b2) runs real TCP connections (curl) to the VIP with
#      tests/e2e/toy_balancer.py in the lb namespace standing in for sluiced
#      (IPIP, then GUE): answers from more than one backend, and a 200 kB
#      POST echoed intact (full-size segments inside the tunnel);
#  (c) takes the lab down and checks that nothing with its prefix remains.
# The lab is removed on every exit path. Exit 77 (skip) without root or
# without the tools it needs. Nothing reads stdin.
#
# Environment: SLUICE_LAB_DECAP_OBJ / SLUICE_LAB_XDP_PASS_OBJ (the meson
# test passes the built objects; otherwise tools/lab compiles them).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
LAB="$REPO/tools/lab"
PYTHON=/usr/bin/python3

skip() {
	echo "SKIP: $*"
	exit 77
}

[[ $EUID -eq 0 ]] || skip "needs root (network namespaces, tc, BPF)"
for tool in ip tc ethtool curl bpftool; do
	command -v "$tool" >/dev/null || skip "needs $tool"
done
[[ -n "${SLUICE_LAB_DECAP_OBJ:-}" ]] || command -v clang >/dev/null || skip "needs clang or SLUICE_LAB_DECAP_OBJ"
"$PYTHON" -c 'import scapy.layers.inet' 2>/dev/null || skip "needs scapy for $PYTHON (apt install python3-scapy)"

# A prefix no other lab uses: "st" + 4 hex digits (tools/lab allows 6 chars).
for _ in 1 2 3 4 5 6 7 8; do
	SLUICE_LAB_PREFIX="st$(printf '%04x' $((RANDOM % 65536)))"
	[[ -e "/run/netns/$SLUICE_LAB_PREFIX-router" || -e "/run/sluice-lab/$SLUICE_LAB_PREFIX" ]] || break
done
export SLUICE_LAB_PREFIX
P="$SLUICE_LAB_PREFIX"

failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

cleanup() {
	local rc=$?
	"$LAB" down >/dev/null 2>&1 || true
	exit "$rc"
}
trap cleanup EXIT

start=$SECONDS
echo "== up (prefix $P)"
"$LAB" up </dev/null
eval "$("$LAB" env)"
export "${!LAB_@}"

echo "== (a) HTTP from the clients to each backend's own address"
for client in $LAB_CLIENTS; do
	for backend in $LAB_STABLE_NODES $LAB_CANARY_NODES; do
		pool="${backend%[0-9]}"
		addr="$("$LAB" exec "$backend" -- ip -4 -o addr show dev "$P-$backend" </dev/null |
			awk '{print $4}' | cut -d/ -f1)"
		out="$("$LAB" exec "$client" -- curl -sS -m 3 -D - "http://$addr/" </dev/null 2>&1 || true)"
		if [[ "$out" == *"X-Backend: $backend"* && "$out" == *"backend=$backend version=$pool"* ]]; then
			echo "ok   $client -> $backend ($addr)"
		else
			fail "$client -> $backend ($addr): $out"
		fi
	done
done
canary2_ip6="$(echo "$LAB_BACKENDS_CANARY6" | cut -d' ' -f2)"
out="$("$LAB" exec client2 -- curl -sS -m 3 "http://[$canary2_ip6]/" </dev/null 2>&1 || true)"
if [[ "$out" == "backend=canary2 version=canary" ]]; then
	echo "ok   client2 -> canary2 (IPv6)"
else
	fail "IPv6 to canary2: $out"
fi
out="$("$LAB" exec client1 -- curl -sS -m 3 --data-binary 'ping over keep-alive' \
	"http://$(echo "$LAB_BACKENDS_STABLE" | cut -d' ' -f1)/echo" </dev/null 2>&1 || true)"
if [[ "$out" == "ping over keep-alive" ]]; then
	echo "ok   POST /echo"
else
	fail "POST /echo: $out"
fi

# Two requests, one connection: long-lived connection tests rely on keep-alive.
stable1_ip="$(echo "$LAB_BACKENDS_STABLE" | cut -d' ' -f1)"
out="$("$LAB" exec client2 -- curl -sS -v -m 3 "http://$stable1_ip/a" "http://$stable1_ip/b" </dev/null 2>&1 || true)"
if [[ "$(grep -c '^backend=stable1' <<<"$out")" == 2 && "$out" == *"Re"*"using existing connection"* ]]; then
	echo "ok   keep-alive: two GETs over one connection"
else
	fail "keep-alive: $out"
fi

echo "== (b) encapsulated SYN from the lb namespace, SYN-ACK from the VIP at the client"
probe() {
	"$PYTHON" "$HERE/dsr_probe.py" "$@" </dev/null || fail "dsr_probe $*"
}
probe --client client1 --backend stable1 --encap ipip --outer 4 --inner 4
probe --client client2 --backend canary1 --encap gue --outer 4 --inner 4
probe --client client1 --backend stable2 --encap ipip --outer 6 --inner 6
probe --client client2 --backend canary2 --encap ipip --outer 6 --inner 4
probe --client client1 --backend canary2 --encap gue --outer 6 --inner 6
probe --client client2 --backend stable2 --encap gue --outer 6 --inner 4
# Negative control: the same GUE SYN to a port the decapsulator ignores.
probe --client client1 --backend stable1 --encap gue --outer 4 --inner 4 --gue-port 6081 \
	--expect-none --timeout 1

echo "== (b2) real TCP through the VIP, tests/e2e/toy_balancer.py standing in for sluiced"
all_backends="$(echo "$LAB_BACKENDS_STABLE $LAB_BACKENDS_CANARY" | tr ' ' ',')"
head -c 200000 /dev/urandom >"$LAB_STATE_DIR/blob"
for encap in ipip gue; do
	"$LAB" exec lb -- "$PYTHON" "$HERE/toy_balancer.py" --encap "$encap" \
		--backends "$all_backends" --seconds 20 </dev/null >"$LAB_STATE_DIR/toy.log" 2>&1 &
	toy=$!
	for _ in $(seq 50); do grep -q '^toy balancer' "$LAB_STATE_DIR/toy.log" && break; sleep 0.05; done
	seen=""
	for i in $(seq 8); do
		client="client$((i % 2 + 1))"
		out="$("$LAB" exec "$client" -- curl -sS -m 3 "http://$LAB_VIP:$LAB_VIP_PORT/" </dev/null 2>&1 || true)"
		if [[ "$out" =~ ^backend=(stable|canary)[12]\ version=(stable|canary)$ ]]; then
			seen="$seen ${out%% *}"
		else
			fail "$encap: GET via the VIP from $client: $out"
		fi
	done
	distinct="$(echo "$seen" | tr ' ' '\n' | sort -u | grep -c . || true)"
	if ((distinct >= 2)); then
		echo "ok   $encap: 8 connections via the VIP, $distinct backends answered:$(echo "$seen" |
			tr ' ' '\n' | grep . | sort | uniq -c | awk '{printf " %s x%s", $2, $1}')"
	else
		fail "$encap: connections via the VIP all went to one backend ($seen)"
	fi
	if "$LAB" exec client1 -- curl -sS -m 5 --data-binary "@$LAB_STATE_DIR/blob" \
		"http://$LAB_VIP:$LAB_VIP_PORT/echo" </dev/null | cmp -s - "$LAB_STATE_DIR/blob"; then
		echo "ok   $encap: 200 kB POST /echo via the VIP (full-size encapsulated segments)"
	else
		fail "$encap: 200 kB POST /echo via the VIP came back different"
	fi
	kill "$toy" 2>/dev/null || true
	wait "$toy" 2>/dev/null || true
done
"$LAB" status </dev/null | grep -E 'decap:' || fail "no decap counters in status"

echo "== (c) down leaves nothing behind"
"$LAB" down </dev/null
trap - EXIT
leftover_ns="$(ip netns list | awk '{print $1}' | grep -E "^$P-" || true)"
[[ -z "$leftover_ns" ]] || fail "namespaces left: $leftover_ns"
[[ ! -e "/run/sluice-lab/$P" ]] || fail "state dir /run/sluice-lab/$P left"
for cmdline in /proc/[0-9]*/cmdline; do
	# Processes come and go while this runs: a vanished one is no leftover.
	text="$({ tr '\0' ' ' <"$cmdline"; } 2>/dev/null || true)"
	[[ "$text" == *"--lab $P "* ]] && fail "process left: $text"
done
if ip -o link show | grep -q -E ": ${P}p?-"; then
	fail "interfaces with the prefix left in this namespace"
fi

echo "== $((SECONDS - start)) s, $failures failure(s)"
((failures == 0))
