"""conn_rate_sni's client: for --duration seconds, --concurrency threads each open a connection,
do a full TLS handshake sending --servername as SNI (no session reuse), send one HTTP/1.0 request
and read the response to the end. Prints one JSON line: connections completed, failures (with the
first error), seconds. The server certificate is not verified: the proxies never see it, and the
client's CPU is not what is measured."""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import threading
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connect", required=True, help="HOST:PORT")
    ap.add_argument("--servername", required=True)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--path", default="/ok")
    args = ap.parse_args()
    host, port = args.connect.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    request = f"GET {args.path} HTTP/1.0\r\nHost: {args.servername}\r\n\r\n".encode()
    lock = threading.Lock()
    done = [0]
    failed = [0]
    first_error: list[str] = []
    deadline = time.monotonic() + args.duration

    def worker() -> None:
        ok = fail = 0
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((host, int(port)), timeout=5) as raw:
                    with ctx.wrap_socket(raw, server_hostname=args.servername) as s:
                        s.sendall(request)
                        body = b""
                        while chunk := s.recv(4096):
                            body += chunk
                if b" 200 " not in body.split(b"\r\n", 1)[0]:
                    raise RuntimeError(f"response {body[:80]!r}")
                ok += 1
            except (OSError, RuntimeError) as e:
                fail += 1
                with lock:
                    if not first_error:
                        first_error.append(f"{type(e).__name__}: {e}")
        with lock:
            done[0] += ok
            failed[0] += fail

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"connections": done[0], "failed": failed[0], "seconds": time.monotonic() - t0,
                      "first_error": first_error[0] if first_error else None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
