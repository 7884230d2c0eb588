#!/usr/bin/python3
"""HTTP load for the lab demo and the end-to-end tests, run inside a lab
client namespace (tools/lab exec client1 -- /usr/bin/python3 http_client.py ...).

  http_client.py connect VIP PORT COUNT [--timeout S]
      COUNT sequential new connections (one GET each); prints JSON:
      {"ok": n, "failed": n, "backends": {name: n}, "versions": {v: n},
       "max_seconds": s}
  http_client.py hold VIP PORT COUNT SECONDS INTERVAL
      COUNT kept-alive connections, each sending a GET every INTERVAL s for
      SECONDS s; prints JSON: {"connections": n, "requests": n,
       "errors": n, "stalls": n, "switched": n, "backends": {name: n},
       "error_samples": [...]}. A request slower than 2 s is a stall; a
      connection answered by two backends has "switched".
  http_client.py clients VIP PORT CONNS ADDR [ADDR...]
      for each source address ADDR, CONNS new connections bound to it; prints
      JSON {ADDR: {"versions": {v: n}, "backends": {b: n}, "failed": n}}
  http_client.py keep VIP PORT SECONDS
      one kept-alive connection; prints {"port": local port, "backend": b}
      after its first GET, then holds it SECONDS s (sending a GET each s).

Standard library only; reads no stdin.
"""
import http.client
import json
import sys
import threading
import time

STALL_SECONDS = 2.0


def get(conn):
    conn.request("GET", "/", headers={"Connection": "keep-alive"})
    resp = conn.getresponse()
    resp.read()
    return resp.getheader("X-Backend", "?"), resp.getheader("X-Version", "?")


def cmd_connect(vip, port, count, timeout):
    # failed = connect_failed (no handshake within the timeout) + failures of
    # the request on an open connection (e.g. its backend vanished mid-request).
    out = {"ok": 0, "failed": 0, "connect_failed": 0, "backends": {}, "versions": {},
           "max_seconds": 0.0, "errors": []}
    for _ in range(count):
        start = time.monotonic()
        conn = http.client.HTTPConnection(vip, port, timeout=timeout)
        try:
            try:
                conn.connect()
            except OSError:
                out["connect_failed"] += 1
                raise
            backend, version = get(conn)
            out["ok"] += 1
            out["backends"][backend] = out["backends"].get(backend, 0) + 1
            out["versions"][version] = out["versions"].get(version, 0) + 1
        except OSError as e:
            out["failed"] += 1
            if len(out["errors"]) < 5:
                out["errors"].append(repr(e))
        finally:
            conn.close()
        out["max_seconds"] = max(out["max_seconds"], time.monotonic() - start)
    print(json.dumps(out))


def cmd_hold(vip, port, count, seconds, interval):
    lock = threading.Lock()
    out = {"connections": count, "requests": 0, "errors": 0, "stalls": 0, "switched": 0,
           "backends": {}, "error_samples": []}

    def worker():
        seen = set()
        requests = errors = stalls = 0
        samples = []
        conn = http.client.HTTPConnection(vip, port, timeout=10)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            start = time.monotonic()
            try:
                backend, _ = get(conn)
                seen.add(backend)
                requests += 1
            except (OSError, http.client.HTTPException) as e:
                errors += 1
                samples.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection(vip, port, timeout=10)
            if time.monotonic() - start > STALL_SECONDS:
                stalls += 1
            time.sleep(interval)
        conn.close()
        with lock:
            out["requests"] += requests
            out["errors"] += errors
            out["stalls"] += stalls
            out["switched"] += len(seen) > 1
            for b in seen:
                out["backends"][b] = out["backends"].get(b, 0) + 1
            out["error_samples"].extend(samples[:2])

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for t in threads:
        t.start()
        time.sleep(0.01)  # do not open them all in one burst
    for t in threads:
        t.join()
    out["error_samples"] = out["error_samples"][:5]
    print(json.dumps(out))


def cmd_clients(vip, port, conns, addresses):
    out = {}
    for addr in addresses:
        r = {"versions": {}, "backends": {}, "failed": 0}
        for _ in range(conns):
            conn = http.client.HTTPConnection(vip, port, timeout=5, source_address=(addr, 0))
            try:
                backend, version = get(conn)
                r["versions"][version] = r["versions"].get(version, 0) + 1
                r["backends"][backend] = r["backends"].get(backend, 0) + 1
            except OSError:
                r["failed"] += 1
            finally:
                conn.close()
        out[addr] = r
    print(json.dumps(out))


def cmd_keep(vip, port, seconds):
    conn = http.client.HTTPConnection(vip, port, timeout=10)
    backend, _ = get(conn)
    print(json.dumps({"port": conn.sock.getsockname()[1], "backend": backend}), flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(1)
        get(conn)
    conn.close()


def main(argv):
    mode = argv[1]
    vip, port = argv[2], int(argv[3])
    if mode == "connect":
        timeout = float(argv[6]) if len(argv) > 6 and argv[5] == "--timeout" else 5.0
        cmd_connect(vip, port, int(argv[4]), timeout)
    elif mode == "hold":
        cmd_hold(vip, port, int(argv[4]), float(argv[5]), float(argv[6]))
    elif mode == "clients":
        cmd_clients(vip, port, int(argv[4]), argv[5:])
    elif mode == "keep":
        cmd_keep(vip, port, float(argv[4]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main(sys.argv)
