#!/usr/bin/env python3
"""Round trips through the proxy while something else happens (the redecide workloads' probe).

    latency_probe.py --connect 203.0.113.20:80 [--conns 8] [--interval 0.001] [--new-every 20]

Holds --conns keep-alive connections (several, so that every proxy worker holds some) and, one
after the other, makes an HTTP/1.1 request on the next one and times the answer; sleeps
--interval between round trips. Every --new-every round trips it also opens a new connection,
makes one request and closes it (accept + decision + upstream connect, timed whole). A worker's
event loop that stops turning shows as the round trips in flight on its connections taking as
long as the stop. Prints `ready` once every connection answered once; on `stop` (or EOF) on stdin
prints one JSON line: {"held": [[start, ms], ...], "new": [[start, ms], ...], "errors": [...]}
(start in CLOCK_REALTIME seconds), and exits.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import sys
import time

from redecide_client import REQUEST, response_end


def round_trip(s: socket.socket) -> None:
    s.sendall(REQUEST)
    buf = b""
    while not response_end(buf):
        data = s.recv(4096)
        if not data:
            raise ConnectionError("EOF before the answer")
        buf += data


def connect(dst: tuple[str, int]) -> socket.socket:
    s = socket.create_connection(dst, timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connect", required=True)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--interval", type=float, default=0.001)
    ap.add_argument("--new-every", type=int, default=20)
    args = ap.parse_args()
    host, _, port = args.connect.rpartition(":")
    dst = (host, int(port))
    held = [connect(dst) for _ in range(args.conns)]
    for s in held:
        round_trip(s)
    print("ready", flush=True)
    out: dict = {"held": [], "new": [], "errors": []}
    i = 0
    while True:
        r, _, _ = select.select([sys.stdin], [], [], args.interval)
        if r:
            line = sys.stdin.readline()
            if not line or line.strip() == "stop":
                break
        idx = i % len(held)
        s = held[idx]
        i += 1
        start, t = time.time(), time.perf_counter()
        try:
            round_trip(s)
            out["held"].append([start, (time.perf_counter() - t) * 1e3])
        except OSError as e:
            out["errors"].append(f"held connection {idx}: {e!r} at {start:.6f}")
            held[idx] = connect(dst)
        if args.new_every and i % args.new_every == 0:
            start, t = time.time(), time.perf_counter()
            try:
                n = connect(dst)
                round_trip(n)
                n.close()
                out["new"].append([start, (time.perf_counter() - t) * 1e3])
            except OSError as e:
                out["errors"].append(f"new connection: {e!r} at {start:.6f}")
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
