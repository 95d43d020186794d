"""Opens COUNT idle connections (optionally mTLS, a full handshake each) and holds them.

Prints "ready <opened>" once all are open (after a TLS connection's handshake, and after one
byte of application data so that a proxy that connects upstream lazily has done so), then holds
them until stdin closes. Used by bench.py for idle_memory_{plain,mtls}.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import resource
import socket
import ssl
import sys


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--connect", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--ca")
    ap.add_argument("--parallel", type=int, default=4, help="connections being opened at once")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    host, port = a.connect.rsplit(":", 1)
    ctx = None
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(a.ca)
        ctx.load_cert_chain(a.cert, a.key)

    def open_one(_: int):
        s = socket.create_connection((host, int(port)), timeout=10)
        if ctx:
            s = ctx.wrap_socket(s)  # the handshake releases the GIL: a few run at once
        # One byte so every proxy has dialled upstream and relayed once; the sink discards it.
        s.sendall(b"x")
        return s

    with concurrent.futures.ThreadPoolExecutor(max_workers=a.parallel) as pool:
        held = list(pool.map(open_one, range(a.count)))
    print(f"ready {len(held)}", flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
