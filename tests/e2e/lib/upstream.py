#!/usr/bin/env python3
"""Upstream servers for the end-to-end sandbox; run inside the internet namespace.

    upstream.py --mode MODE --listen 203.0.113.10:7 --listen [2001:db8:2::10]:7 \
                --events FILE --ready FILE

Modes:
  echo       sends back every byte it reads; closes after the client's EOF.
  banner     speaks first: sends BANNER as soon as it accepts, then echoes like echo.
  sink       reads to EOF, counting bytes and their SHA-256; sends nothing.
  halfclose  reads to EOF (the client's half-close), then replies "ACK <bytes> <sha256>\\n" and closes.
  http       a minimal HTTP/1.1 server: one request per connection, 200 with a fixed body.
  https      http inside TLS (--cert/--key, the server's chain and key): the accept event is
             written at TCP accept, before the handshake; bytes_in/out count plaintext.
  silent     accepts and never sends; closes when the peer does.

Every connection appends JSON Lines to --events (flushed at once, so a test can read them live):
  {"event": "accept", "peer": "203.0.113.254:40000", "local": "203.0.113.10:7", "active": 1}
  {"event": "close", "peer": ..., "local": ..., "bytes_in": n, "bytes_out": n,
   "sha256_in": "...", "end": "eof" | "reset" | "error: ...", "duration_s": f, "head": "first bytes"}
An accept count of 0 is how a test proves the gateway sent no SYN upstream for a denied connection.
--ready is written once every address is bound.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import signal
import socket
import ssl
import sys
import time

CHUNK = 1 << 20
HTTP_BODY = b"hello from the internet namespace\n"
BANNER = b"220 lab.example ESMTP ready\r\n"


class Events:
    def __init__(self, path: str) -> None:
        self.f = open(path, "a", buffering=1)
        self.active = 0
        self.peak = 0

    def write(self, rec: dict) -> None:
        self.f.write(json.dumps(rec, sort_keys=True) + "\n")
        self.f.flush()


def _fmt(addr) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_listen(spec: str) -> tuple[str, int]:
    host, _, port = spec.rpartition(":")
    return host.strip("[]"), int(port)


async def handle(mode: str, events: Events, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, tls: ssl.SSLContext | None = None) -> None:
    sock = writer.get_extra_info("socket")
    peer, local = _fmt(writer.get_extra_info("peername")), _fmt(writer.get_extra_info("sockname"))
    events.active += 1
    events.peak = max(events.peak, events.active)
    events.write({"event": "accept", "peer": peer, "local": local, "active": events.active,
                  "t": time.time()})
    start = time.monotonic()
    digest = hashlib.sha256()
    bytes_in = bytes_out = 0
    head = b""
    end = "eof"
    try:
        if mode == "https":
            await writer.start_tls(tls)
        if mode in ("http", "https"):
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                data += chunk
            bytes_in = len(data)
            digest.update(data)
            head = data[:200]
            if b"\r\n\r\n" in data:
                resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                        b"Content-Length: " + str(len(HTTP_BODY)).encode() + b"\r\n\r\n" + HTTP_BODY)
                writer.write(resp)
                await writer.drain()
                bytes_out = len(resp)
        else:
            if mode == "banner":
                writer.write(BANNER)
                await writer.drain()
                bytes_out += len(BANNER)
            while True:
                chunk = await reader.read(CHUNK)
                if not chunk:
                    break
                if len(head) < 200:
                    head += chunk[: 200 - len(head)]
                bytes_in += len(chunk)
                digest.update(chunk)
                if mode in ("echo", "banner"):
                    writer.write(chunk)
                    await writer.drain()
                    bytes_out += len(chunk)
            if mode == "halfclose":
                reply = f"ACK {bytes_in} {digest.hexdigest()}\n".encode()
                writer.write(reply)
                await writer.drain()
                bytes_out += len(reply)
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
    except ConnectionResetError:
        end = "reset"
    except OSError as e:
        end = f"error: {e}"
    finally:
        events.active -= 1
        if not writer.is_closing():
            writer.close()
        events.write({"event": "close", "peer": peer, "local": local, "bytes_in": bytes_in,
                      "bytes_out": bytes_out, "sha256_in": digest.hexdigest(), "end": end,
                      "duration_s": round(time.monotonic() - start, 6),
                      "head": head.decode("utf-8", "replace"), "t": time.time()})
        del sock


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", required=True,
                    choices=["echo", "banner", "sink", "halfclose", "http", "https", "silent"])
    ap.add_argument("--cert", help="https: the server's PEM chain")
    ap.add_argument("--key", help="https: its key")
    ap.add_argument("--listen", action="append", required=True, help="ADDR:PORT, IPv6 as [ADDR]:PORT")
    ap.add_argument("--events", required=True)
    ap.add_argument("--ready", required=True)
    args = ap.parse_args()

    # Thousands of concurrent connections in some cases: lift the soft fd limit to the hard one.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    events = Events(args.events)
    tls = None
    if args.mode == "https":
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)
    servers = []
    for spec in args.listen:
        host, port = parse_listen(spec)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        async def on_conn(r, w, mode=args.mode):
            await handle(mode, events, r, w, tls)

        servers.append(await asyncio.start_server(on_conn, host=host, port=port, family=family,
                                                  reuse_address=True, backlog=4096,
                                                  limit=4 * CHUNK))
    tmp = args.ready + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps({"pid": os.getpid(), "listen": args.listen}) + "\n")
    os.replace(tmp, args.ready)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
