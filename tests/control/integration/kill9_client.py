# SPDX-License-Identifier: Apache-2.0
"""The client side of kill9_test.sh: SetWeights calls, sluiced killed with
SIGKILL in the middle of them, and what a restart must load.

  kill9_client.py load   --socket S --proto-root R --pid PID --calls N --seed X --result F
  kill9_client.py verify --socket S --proto-root R --calls N --result F --audit A

load: applies the service `web` (pools stable and canary), then makes up
to N SetWeights calls one after another, each with weights of its own
(stable and canary alternate between low and high, offset by the call's
index, so no two calls send the same weights), recording the revision each
acknowledges. At a random call (from --seed) a thread sends SIGKILL to PID
while that call is in flight or just after it, at a random delay. The loop
stops at the first failed call: that call may or may not have been saved.
Writes F: the last acknowledged revision and weights, and the weights of
the call that failed.

verify (after sluiced restarted on the same state directory): the loaded
revision must be the last acknowledged one with its weights, or that + 1
with exactly the weights of the call that failed (saved, not
acknowledged). Then makes the remaining calls (N in all), each with
expected_revision, and checks the revision goes on by one per call. The
audit log must hold one accepted record per revision, except possibly the
loaded one (saved, then killed before its record).
"""

import argparse
import json
import os
import random
import shutil
import signal
import sys
import threading
import time

import grpc

import sluice_client

CALL_TIMEOUT_S = 5


def call_weights(i):
    """The weights sent with call i: unique to it, alternating."""
    low, high = 10 + i, 990000 - i
    return {"stable": low, "canary": high} if i % 2 == 0 else {"stable": high, "canary": low}


def service_weights(stub, c):
    got = stub.GetService(c.GetServiceRequest(name="web"), timeout=CALL_TIMEOUT_S)
    return got.revision, {p.name: p.weight for p in got.service.pools}


def load(args, protos, stub):
    c, s = protos.control_pb2, protos.service_pb2
    web = s.Service(name="web", vip="10.78.100.10", port=80)
    for name, weight, address in (("stable", 90, "10.78.0.21"), ("canary", 10, "10.78.0.31")):
        pool = web.pools.add(name=name, weight=weight)
        pool.backends.add(address=address)
    request = c.ApplyServiceRequest(service=web)
    request.wait.enabled = True
    applied = stub.ApplyService(request, timeout=CALL_TIMEOUT_S)
    if (applied.revision, applied.applied) != (1, True):
        raise AssertionError("ApplyService: %s, wanted revision 1, applied" % applied)

    rng = random.Random(args.seed)
    kill_at = rng.randint(args.calls // 10, args.calls * 9 // 10)
    killed = threading.Event()

    def killer(delay):
        time.sleep(delay)
        killed.set()
        os.kill(args.pid, signal.SIGKILL)

    last_revision, last_weights = applied.revision, {"stable": 90, "canary": 10}
    failed = None
    started = time.monotonic()
    thread = None
    for i in range(args.calls):
        weights = call_weights(i)
        if i == kill_at:
            # Somewhere inside this call (or the next), on average.
            mean_call_s = (time.monotonic() - started) / max(i, 1)
            delay = rng.uniform(0, 1.5 * mean_call_s)
            print("killing sluiced (pid %d) %.2f ms into call %d (mean call %.2f ms)" %
                  (args.pid, delay * 1000, i, mean_call_s * 1000))
            thread = threading.Thread(target=killer, args=(delay,))
            thread.start()
        try:
            response = stub.SetWeights(c.SetWeightsRequest(service="web", weights=weights),
                                       timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as e:
            if not killed.is_set():
                raise AssertionError("call %d failed before the kill: %s: %s" %
                                     (i, e.code(), e.details()))
            failed = {"index": i, "weights": weights, "code": str(e.code())}
            break
        if response.revision != last_revision + 1:
            raise AssertionError("call %d: revision %d after %d" %
                                 (i, response.revision, last_revision))
        last_revision, last_weights = response.revision, weights
    if thread:
        thread.join()
    if failed is None:
        raise AssertionError("all %d calls succeeded: sluiced was never killed" % args.calls)
    print("%d calls acknowledged (last revision %d), call %d failed: %s" %
          (failed["index"], last_revision, failed["index"], failed["code"]))
    with open(args.result, "w") as f:
        json.dump({"last_revision": last_revision, "last_weights": last_weights,
                   "failed": failed}, f)


def verify(args, protos, stub):
    c = protos.control_pb2
    with open(args.result) as f:
        result = json.load(f)
    last, failed = result["last_revision"], result["failed"]
    revision, weights = service_weights(stub, c)
    status = stub.GetStatus(c.GetStatusRequest(), timeout=CALL_TIMEOUT_S)
    if status.revision != revision or list(status.worker_generations) != [revision]:
        raise AssertionError("status %s disagrees with GetService's revision %d" %
                             (status, revision))
    if revision == last:
        if weights != result["last_weights"]:
            raise AssertionError("revision %d (the last acknowledged) loaded with weights %s, "
                                 "but it was acknowledged for %s" %
                                 (revision, weights, result["last_weights"]))
        print("ok: loaded revision %d, the last acknowledged, with its weights %s" %
              (revision, weights))
    elif revision == last + 1:
        if weights != failed["weights"]:
            raise AssertionError("revision %d (the call killed unacknowledged) loaded with "
                                 "weights %s, but that call sent %s" %
                                 (revision, weights, failed["weights"]))
        print("ok: loaded revision %d: the killed call %d, saved but not acknowledged, with "
              "exactly its weights %s" % (revision, failed["index"], weights))
    else:
        raise AssertionError("loaded revision %d, wanted %d (last acknowledged) or %d" %
                             (revision, last, last + 1))

    # The remaining calls, on top of what was loaded.
    loaded = revision
    for i in range(failed["index"] + 1, args.calls):
        weights = call_weights(i)
        response = stub.SetWeights(c.SetWeightsRequest(service="web", weights=weights,
                                                       expected_revision=revision),
                                   timeout=CALL_TIMEOUT_S)
        if response.revision != revision + 1:
            raise AssertionError("call %d after the restart: revision %d after %d" %
                                 (i, response.revision, revision))
        revision = response.revision
    final = service_weights(stub, c)
    want = (loaded + args.calls - failed["index"] - 1, call_weights(args.calls - 1))
    if final != want:
        raise AssertionError("after all %d calls: %s, wanted %s" % (args.calls, final, want))
    print("ok: the remaining %d calls after the restart: revision %d" %
          (args.calls - failed["index"] - 1, final[0]))

    # The audit log: whole JSON lines (a torn line may stay where the kill
    # hit a write), one accepted record per revision 1..final, in order.
    records, torn = [], 0
    with open(args.audit) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except ValueError:
                torn += 1
    if torn > 1:
        raise AssertionError("%d audit lines do not parse" % torn)
    # A revision is acknowledged only after its record is written: only an
    # unacknowledged one may lack it.
    accepted = [r["revision_after"] for r in records if r["accepted"] and not r["dry_run"]]
    everything = list(range(1, final[0] + 1))
    if accepted != everything and not (
            loaded == last + 1 and accepted == [r for r in everything if r != loaded]):
        missing = sorted(set(everything) - set(accepted))
        raise AssertionError("audit log: %d accepted records, wanted one per revision 1..%d "
                             "in order (missing: %s; loaded %d, last acknowledged %d)" %
                             (len(accepted), final[0], missing[:10], loaded, last))
    print("ok: audit log: %d accepted records%s, %d torn line(s)" %
          (len(accepted), "" if len(accepted) == final[0] else
           " (revision %d saved, killed before its record)" % loaded, torn))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=["load", "verify"])
    parser.add_argument("--socket", required=True)
    parser.add_argument("--proto-root", required=True)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--result", required=True)
    parser.add_argument("--pid", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--audit")
    args = parser.parse_args()
    protos = sluice_client.generate(args.proto_root)
    channel, stub = sluice_client.connect(args.socket, protos)
    try:
        (load if args.phase == "load" else verify)(args, protos, stub)
    except (AssertionError, grpc.RpcError) as e:
        if isinstance(e, grpc.RpcError):
            e = "unexpected %s: %s" % (e.code(), e.details())
        print("FAIL: %s: %s" % (args.phase, e))
        return 1
    finally:
        channel.close()
        shutil.rmtree(protos.directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
