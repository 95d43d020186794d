#!/usr/bin/env python3
"""A scriptable TCP client for the end-to-end sandbox; run inside the client namespace.

One connection (default):
    client.py --dst 203.0.113.10:7 [--send TEXT [--repeat N --interval S]] [--send-bytes N]
              [--linger S] [--shutdown] [--timeout S]
Reads concurrently with sending. Prints one JSON object: {"connected", "connect_error",
"connect_s", "sent", "sent_sha256", "recv_len", "recv" (text, first 4 KiB), "recv_sha256",
"end": "eof" | "reset" | "timeout" | "error: ..", "end_s" (when the read side ended), "elapsed_s"}. "end" says how the read side ended: the gateway's deny is a reset (or an EOF) with
recv_len 0.

Many at once:
    client.py --dst 203.0.113.10:7 --concurrent 1000
Opens every connection first (all are open at the same time), then each sends "conn-<i>\\n",
half-closes and expects exactly that line echoed back. Prints {"opened", "ok", "failures": {...}}.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import resource
import socket
import sys
import threading
import time

CHUNK = 1 << 20


def parse_dst(spec: str) -> tuple[str, int]:
    host, _, port = spec.rpartition(":")
    return host.strip("[]"), int(port)


def pattern_block() -> bytes:
    """1 MiB of deterministic, non-repeating-looking bytes (a SHA-256 counter stream)."""
    out = bytearray()
    i = 0
    while len(out) < CHUNK:
        out += hashlib.sha256(i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:CHUNK])


def _reader(s: socket.socket, args, res: dict) -> None:
    recv_digest = hashlib.sha256()
    head = bytearray()
    try:
        while True:
            chunk = s.recv(CHUNK)
            if not chunk:
                res["end"] = "eof"
                break
            res["recv_len"] += len(chunk)
            recv_digest.update(chunk)
            if len(head) < 4096:
                head += chunk[: 4096 - len(head)]
            if args.max_recv and res["recv_len"] >= args.max_recv:
                res["end"] = "max_recv"
                break
    except ConnectionResetError:
        res["end"] = "reset"
    except socket.timeout:
        res["end"] = "timeout"
    except OSError as e:
        res["end"] = f"error: {e.strerror or e}"
    res["end_s"] = round(time.monotonic() - res["_t0"], 6)
    res["recv"] = head.decode("utf-8", "replace")
    res["recv_sha256"] = recv_digest.hexdigest()


def _send(s: socket.socket, args, res: dict, digest) -> None:
    if args.delay_send:
        time.sleep(args.delay_send)
    for i in range(max(1, args.repeat)):
        if i:
            time.sleep(args.interval)
        if args.send is not None:
            data = args.send.encode()
            s.sendall(data)
            digest.update(data)
            res["sent"] += len(data)
    if args.send_bytes:
        block = pattern_block()
        left = args.send_bytes
        while left > 0:
            piece = block if left >= len(block) else block[:left]
            s.sendall(piece)
            digest.update(piece)
            left -= len(piece)
            res["sent"] += len(piece)
    if args.linger:
        time.sleep(args.linger)
    if args.shutdown:
        s.shutdown(socket.SHUT_WR)


def _local(s: socket.socket) -> str | None:
    try:
        lhost, lport = s.getsockname()[:2]
    except OSError:
        return None
    return f"[{lhost}]:{lport}" if ":" in lhost else f"{lhost}:{lport}"


def one(args) -> dict:
    host, port = parse_dst(args.dst)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(args.connect_timeout)
    res: dict = {"dst": args.dst, "connected": False, "connect_error": None, "sent": 0,
                 "recv_len": 0, "recv": "", "end": None}
    t0 = res["_t0"] = time.monotonic()
    try:
        s.connect((host, port))
    except ConnectionResetError:
        # The handshake completed (a refused one is ECONNREFUSED) and the RST came before connect()
        # returned: a peer that accepts and resets at once, as a gateway denying a connection does.
        res.update(connected=True, end="reset", reset_during_connect=True)
        res["local"] = _local(s)
        res["connect_s"] = res["end_s"] = res["elapsed_s"] = round(time.monotonic() - t0, 6)
        del res["_t0"]
        return res
    except OSError as e:
        res["connect_error"] = type(e).__name__ if not e.strerror else e.strerror
        res["connect_s"] = res["elapsed_s"] = round(time.monotonic() - t0, 6)
        del res["_t0"]
        return res
    res["connected"] = True
    res["connect_s"] = round(time.monotonic() - t0, 6)
    res["local"] = _local(s)
    s.settimeout(args.timeout)

    # Read while sending: an echo of a large payload would otherwise fill both directions' buffers.
    reader = threading.Thread(target=_reader, args=(s, args, res))
    reader.start()
    sent_digest = hashlib.sha256()
    res["send_error"] = None
    try:
        _send(s, args, res, sent_digest)
    except OSError as e:
        res["send_error"] = f"{type(e).__name__}: {e}"
    res["sent_sha256"] = sent_digest.hexdigest()
    reader.join()
    res["elapsed_s"] = round(time.monotonic() - t0, 6)
    del res["_t0"]
    s.close()
    return res


async def many(args) -> dict:
    host, port = parse_dst(args.dst)
    n = args.concurrent
    failures: dict[str, int] = {}

    def fail(why: str) -> None:
        failures[why] = failures.get(why, 0) + 1

    async def open_one(i):
        try:
            return await asyncio.wait_for(asyncio.open_connection(host, port), args.connect_timeout)
        except (OSError, asyncio.TimeoutError) as e:
            fail(f"connect: {type(e).__name__}")
            return None

    conns = await asyncio.gather(*(open_one(i) for i in range(n)))
    opened = sum(1 for c in conns if c is not None)
    # Every connection is open now; hold them all open while they all talk.
    await asyncio.sleep(args.hold)

    async def talk(i, conn) -> bool:
        if conn is None:
            return False
        reader, writer = conn
        line = f"conn-{i}\n".encode()
        try:
            writer.write(line)
            await writer.drain()
            writer.write_eof()
            got = await asyncio.wait_for(reader.read(), args.timeout)
            if got != line:
                fail("wrong bytes" if got else "no bytes")
                return False
            return True
        except (OSError, asyncio.TimeoutError) as e:
            fail(f"talk: {type(e).__name__}")
            return False
        finally:
            writer.close()

    t0 = time.monotonic()
    results = await asyncio.gather(*(talk(i, c) for i, c in enumerate(conns)))
    return {"dst": args.dst, "requested": n, "opened": opened, "ok": sum(results),
            "failures": failures, "talk_s": round(time.monotonic() - t0, 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dst", required=True, help="ADDR:PORT, IPv6 as [ADDR]:PORT")
    ap.add_argument("--send")
    ap.add_argument("--send-bytes", type=int, default=0, help="send N bytes of a deterministic pattern")
    ap.add_argument("--delay-send", type=float, default=0.0, help="wait S seconds before sending")
    ap.add_argument("--repeat", type=int, default=1, help="send --send N times")
    ap.add_argument("--interval", type=float, default=0.0, help="seconds between repeats")
    ap.add_argument("--linger", type=float, default=0.0, help="wait S seconds after sending")
    ap.add_argument("--shutdown", action="store_true", help="SHUT_WR after sending (and lingering)")
    ap.add_argument("--max-recv", type=int, default=0, help="stop reading after N bytes")
    ap.add_argument("--connect-timeout", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=10.0, help="read timeout (s)")
    ap.add_argument("--concurrent", type=int, default=0)
    ap.add_argument("--hold", type=float, default=0.5, help="with --concurrent: seconds all stay open idle")
    args = ap.parse_args()
    if args.concurrent:
        # N sockets plus the interpreter's own: lift the soft limit (often 1024) to the hard one.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < args.concurrent + 64:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.concurrent + 1024), hard))
        res = asyncio.run(many(args))
    else:
        res = one(args)
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
