#!/usr/bin/env python3
"""The held connections of the redecide workloads: opens them, waits for the reload, times the resets.

    redecide_client.py --revoked 203.0.113.10:80=10000 [--kept 203.0.113.20:80=5000] [--inflight 256]

1. Opens every connection (at most --inflight connecting at once) and makes one HTTP/1.1 keep-alive
   request on each (bench/lib/upstream.c answers it): a connection counts as open only once the
   upstream's answer came back through the proxy. Prints `ready N`.
2. Waits for `go T` on stdin (the harness sent the reload at T, CLOCK_REALTIME), then sends a request on every
   `--kept` connection, --kept-batch of them every --kept-interval (bytes that must pass while the
   re-decision runs: 5,000 in 64s every 5 ms take 0.4 s), and records when each connection ends
   (reset or EOF, CLOCK_REALTIME) until every `--revoked` one has ended and every kept one has
   answered, or --timeout. Prints a JSON line `{"phase": "settled", ...}`.
3. Sends one more request on every kept connection still open and waits for the answers. Prints
   the final JSON line `{"phase": "done", ...}` and exits.

A kept connection that ends, or a revoked one that ends before T, is counted, never hidden.
"""

from __future__ import annotations

import argparse
import errno
import json
import selectors
import socket
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def response_end(buf: bytes) -> int:
    """The length of the first complete HTTP response in buf (headers + Content-Length body), or 0."""
    head = buf.find(b"\r\n\r\n")
    if head < 0:
        return 0
    length = 0
    for line in buf[:head].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    end = head + 4 + length
    return end if len(buf) >= end else 0


class Conn:
    __slots__ = ("sock", "role", "dst", "buf", "answers", "ended", "how", "connected")

    def __init__(self, sock: socket.socket, role: str, dst: tuple[str, int]):
        self.sock, self.role, self.dst = sock, role, dst
        self.buf = b""
        self.answers = 0  # complete responses received
        self.ended = None  # CLOCK_REALTIME of the reset / EOF
        self.how = ""  # reset | eof | error text
        self.connected = False


def parse_dst(spec: str) -> tuple[tuple[str, int], int]:
    addr, _, count = spec.partition("=")
    host, _, port = addr.rpartition(":")
    return (host, int(port)), int(count)


def read(c: Conn) -> None:
    """Reads what is there; counts complete responses, or marks the end (reset / EOF)."""
    while True:
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except ConnectionResetError:
            c.ended, c.how = time.time(), "reset"
            return
        except OSError as e:
            c.ended, c.how = time.time(), f"error: {e}"
            return
        if not data:
            c.ended, c.how = time.time(), "eof"
            return
        c.buf += data
        while (n := response_end(c.buf)):
            c.buf = c.buf[n:]
            c.answers += 1


def open_all(specs: list[tuple[str, tuple[str, int], int]], inflight: int, timeout: float,
             sel: selectors.BaseSelector) -> list[Conn]:
    todo = [(role, dst) for role, dst, count in specs for _ in range(count)]
    conns: list[Conn] = []
    pending: set[Conn] = set()
    deadline = time.monotonic() + timeout
    i = 0
    while i < len(todo) or pending:
        while i < len(todo) and len(pending) < inflight:
            role, dst = todo[i]
            i += 1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rc = s.connect_ex(dst)
            if rc not in (0, errno.EINPROGRESS):
                raise RuntimeError(f"connect {dst}: {errno.errorcode.get(rc, rc)} after {len(conns)} open")
            c = Conn(s, role, dst)
            sel.register(s, selectors.EVENT_WRITE, c)
            pending.add(c)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(conns)} of {len(todo)} connections open after {timeout:.0f} s")
        for key, ev in sel.select(timeout=1.0):
            c = key.data
            if not c.connected and ev & selectors.EVENT_WRITE:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise RuntimeError(f"connect {c.dst}: {errno.errorcode.get(err, err)} after {len(conns)} open")
                c.connected = True
                c.sock.send(REQUEST)
                sel.modify(c.sock, selectors.EVENT_READ, c)
                continue
            read(c)
            if c.ended:
                raise RuntimeError(f"{c.dst}: {c.how} before its first answer, after {len(conns)} open")
            if c.answers:
                pending.discard(c)
                conns.append(c)
    return conns


TCP_CLOSE = 7  # tcp_info.tcpi_state: the socket is gone (an RST arrived); CLOSE_WAIT (8): only a FIN


def summary(conns: list[Conn], role: str) -> dict:
    mine = [c for c in conns if c.role == role]
    ended = sorted(c.ended for c in mine if c.ended)
    hows: dict[str, int] = {}
    eof_then_reset = 0
    for c in mine:
        if c.ended:
            hows[c.how] = hows.get(c.how, 0) + 1
        if c.how == "eof":  # an orderly FIN first: did a reset follow it since?
            eof_then_reset += c.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] == TCP_CLOSE
    return {"count": len(mine), "ended": len(ended), "how": hows, "ends": ended,
            "answers": sum(c.answers for c in mine), "eof_then_reset": eof_then_reset}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--revoked", action="append", default=[], help="ADDR:PORT=COUNT the reload must close")
    ap.add_argument("--kept", action="append", default=[], help="ADDR:PORT=COUNT the reload must leave open")
    ap.add_argument("--inflight", type=int, default=256)
    ap.add_argument("--open-timeout", type=float, default=180.0)
    ap.add_argument("--timeout", type=float, default=30.0, help="after `go`, for the resets")
    # The kept connections' requests during the re-decision, spread: all at once, 5,000 relayed
    # requests would be a load of their own on the event loops the probe is timing.
    ap.add_argument("--kept-batch", type=int, default=64, help="kept connections sent a request at a time")
    ap.add_argument("--kept-interval", type=float, default=0.005, help="seconds between those batches")
    args = ap.parse_args()
    specs = [("revoked", *parse_dst(s)) for s in args.revoked] + [("kept", *parse_dst(s)) for s in args.kept]
    sel = selectors.DefaultSelector()
    try:
        conns = open_all(specs, args.inflight, args.open_timeout, sel)
    except (RuntimeError, OSError) as e:
        print(json.dumps({"phase": "failed", "error": str(e)}), flush=True)
        return 1
    print(f"ready {len(conns)}", flush=True)
    ready = time.time()

    sel.register(sys.stdin, selectors.EVENT_READ, None)
    go = None
    while go is None:
        for key, _ in sel.select():
            if key.data is None:
                line = sys.stdin.readline()
                if not line:
                    return 1
                if line.startswith("go "):
                    go = float(line.split()[1])  # when the harness sent the SIGHUP
            else:
                read(key.data)  # an end before `go` is kept in the summary as an early end
    sel.unregister(sys.stdin)
    early_conns = [c for c in conns if c.ended and c.ended < go]
    early = len(early_conns)
    if early:
        print(f"ended before the reload: {early}, first {min(c.ended for c in early_conns) - ready:.3f} s after ready, "
              f"last {max(c.ended for c in early_conns) - ready:.3f} s; {sorted({f'{c.role} {c.how}' for c in early_conns})}",
              file=sys.stderr, flush=True)

    kept = [c for c in conns if c.role == "kept" and not c.ended]
    revoked_open = {c for c in conns if c.role == "revoked" and not c.ended}
    waiting = {c for c in kept}
    deadline = time.monotonic() + args.timeout
    sent, next_batch = 0, time.monotonic()
    while (revoked_open or waiting) and time.monotonic() < deadline:
        if sent < len(kept) and time.monotonic() >= next_batch:
            for c in kept[sent:sent + args.kept_batch]:
                if not c.ended:
                    c.sock.send(REQUEST)
            sent += args.kept_batch
            next_batch += args.kept_interval
        wait = max(0.0, next_batch - time.monotonic()) if sent < len(kept) else 0.5
        for key, _ in sel.select(timeout=wait):
            c = key.data
            before = c.answers
            read(c)
            if c.ended:
                sel.unregister(c.sock)
                revoked_open.discard(c)
                waiting.discard(c)
            elif c.answers > before:
                waiting.discard(c)
    settled = time.time()
    answered_during = sum(1 for c in kept if c.answers >= 2)
    print(json.dumps({"phase": "settled", "go": go, "settled": settled, "early_ends": early,
                      "revoked": summary(conns, "revoked"), "kept": summary(conns, "kept"),
                      "kept_answered_during": answered_during}), flush=True)

    # Bytes still flowing on every kept connection once the re-decision is over.
    still = [c for c in kept if not c.ended]
    for c in still:
        try:
            c.sock.send(REQUEST)
        except OSError:
            pass
    waiting = set(still)
    deadline = time.monotonic() + 10
    while waiting and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            c = key.data
            read(c)
            if c.ended:
                sel.unregister(c.sock)
                waiting.discard(c)
            elif c.answers >= 3:
                waiting.discard(c)
    answered_after = sum(1 for c in kept if c.answers >= 3 and not c.ended)
    kept_summary = summary(conns, "kept")
    kept_summary.pop("ends")
    print(json.dumps({"phase": "done", "kept": kept_summary, "kept_answered_after": answered_after}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
