#!/usr/bin/env python3
"""A CONNECT client that writes exact bytes and reads exact answers; run in the client namespace.

    connect_client.py PLAN.json

PLAN (JSON):
  "proxy": "192.0.2.1:15080"      the CONNECT listener ("[v6]:port" for IPv6); without it the client
                                  connects to "dst" directly (a transparent listener's client)
  "dst": "203.0.113.10:7"         with no proxy: where to connect
  "bind": "192.0.2.3"             optional source address
  "tls": {"ca", "cert", "key", "server_name"}   optional: mTLS to the proxy (cert/key optional)
  "target": "host:port"           the head is "CONNECT <target> HTTP/1.1\\r\\nHost: <target>\\r\\n\\r\\n"
  "head_hex": "..."               or exactly these bytes as the head
  "head_piece": N, "head_gap": S  write the head N bytes at a time, S seconds apart (slowloris);
                                  between pieces the client notices the gateway closing
  "pipeline_hex": "..."           bytes written right after the head, before any answer (the
                                  egressd agent's way: the workload's first bytes follow the head)
  "after_hex": "..."              bytes written once a 200 has been read
  "expect": N                     then read until N tunnel bytes have come (an echo), then close
  "timeout": 5                    every read's timeout

Prints one JSON object:
  "connected", "connect_error", "local" (the client's own "ip:port": the decision record's src),
  "answer": {"status_line", "status", "headers": [[name, value]...], "body"} or null (no answer
  head came), "answer_s" (when the answer head was complete, seconds after connect),
  "tunnel_len", "tunnel_hex" (bytes after the answer, or everything read with no proxy),
  "end": "eof" | "reset" | "timeout" | "error: ..." (how the read side ended; "eof" includes a TLS
  EOF without close_notify, then "ragged_eof": true), "end_s", "send_error", "head_sent",
  "tls_version", "close_notify" (over TLS, once "expect" was met: the client sent its close_notify
  and read the peer's, the TLS half-close).
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import sys
import time

CRLF2 = b"\r\n\r\n"


def _split(spec: str) -> tuple[str, int]:
    host, _, port = spec.rpartition(":")
    return host.strip("[]"), int(port)


def _local(s: socket.socket) -> str | None:
    try:
        lhost, lport = s.getsockname()[:2]
    except OSError:
        return None
    return f"[{lhost}]:{lport}" if ":" in lhost else f"{lhost}:{lport}"


class Conn:
    def __init__(self, s, res: dict, t0: float) -> None:
        self.s = s
        self.res = res
        self.t0 = t0
        self.buf = bytearray()
        self.closed = False

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 6)

    def _end(self, how: str) -> None:
        if not self.closed:
            self.closed = True
            self.res["end"] = how
            self.res["end_s"] = self.now()

    def recv_some(self) -> bool:
        """One read into buf; False when the read side has ended (res["end"] says how)."""
        if self.closed:
            return False
        try:
            chunk = self.s.recv(65536)
        except ssl.SSLZeroReturnError:
            self._end("eof")
            return False
        except ssl.SSLEOFError:
            self.res["ragged_eof"] = True
            self._end("eof")
            return False
        except ConnectionResetError:
            self._end("reset")
            return False
        except (socket.timeout, TimeoutError):
            self._end("timeout")
            return False
        except ssl.SSLError as e:
            self._end(f"error: {e.reason or e}")
            return False
        except OSError as e:
            self._end(f"error: {e.strerror or e}")
            return False
        if not chunk:
            self._end("eof")
            return False
        self.buf += chunk
        return True

    def readable_within(self, seconds: float) -> bool:
        if isinstance(self.s, ssl.SSLSocket) and self.s.pending():
            return True
        r, _, _ = select.select([self.s], [], [], seconds)
        return bool(r)

    def send(self, data: bytes) -> bool:
        try:
            self.s.sendall(data)
            return True
        except OSError as e:
            self.res["send_error"] = f"{type(e).__name__}: {e}"
            return False


def read_answer(c: Conn) -> dict | None:
    """Reads one HTTP/1.1 answer head and its Content-Length body from c.buf/c.s."""
    while CRLF2 not in c.buf:
        if not c.recv_some():
            return None
    head, _, rest = bytes(c.buf).partition(CRLF2)
    c.res["answer_s"] = c.now()
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0]
    parts = status_line.split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        status = 0
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append([name.strip(), value.strip()])
    length = 0
    for name, value in headers:
        if name.lower() == "content-length" and value.isdigit():
            length = int(value)
    c.buf = bytearray(rest)
    while len(c.buf) < length:
        if not c.recv_some():
            break
    body = bytes(c.buf[:length])
    c.buf = c.buf[length:]
    return {"status_line": status_line, "status": status, "headers": headers,
            "body": body.decode("utf-8", "replace")}


def main() -> int:
    plan = json.loads(open(sys.argv[1]).read())
    timeout = plan.get("timeout", 5)
    via = plan.get("proxy") or plan["dst"]
    host, port = _split(via)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_STREAM)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if plan.get("bind"):
        raw.bind((plan["bind"], 0))
    raw.settimeout(timeout)
    res: dict = {"connected": False, "connect_error": None, "answer": None, "tunnel_len": 0,
                 "tunnel_hex": "", "end": None, "send_error": None, "head_sent": 0}
    t0 = time.monotonic()
    try:
        raw.connect((host, port))
    except ConnectionResetError:
        res.update(connected=True, end="reset", end_s=round(time.monotonic() - t0, 6), local=_local(raw))
        print(json.dumps(res))
        return 0
    except OSError as e:
        res["connect_error"] = e.strerror or type(e).__name__
        print(json.dumps(res))
        return 0
    res["connected"] = True
    res["local"] = _local(raw)
    s = raw
    if plan.get("tls"):
        tls = plan["tls"]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(tls["ca"])
        if tls.get("cert"):
            ctx.load_cert_chain(tls["cert"], tls["key"])
        try:
            s = ctx.wrap_socket(raw, server_hostname=tls.get("server_name", host))
        except (ssl.SSLError, OSError) as e:
            res["end"] = f"error: TLS handshake: {e}"
            res["end_s"] = round(time.monotonic() - t0, 6)
            print(json.dumps(res))
            return 0
        res["tls_version"] = s.version()
    c = Conn(s, res, t0)

    if plan.get("proxy"):
        if "head_hex" in plan:
            head = bytes.fromhex(plan["head_hex"])
        else:
            head = f"CONNECT {plan['target']} HTTP/1.1\r\nHost: {plan['target']}\r\n\r\n".encode()
        piece = plan.get("head_piece") or len(head)
        gap = plan.get("head_gap", 0)
        for i in range(0, len(head), piece):
            if i and gap:
                # Wait the gap, but notice at once when the gateway answers or closes meanwhile.
                if c.readable_within(gap):
                    c.recv_some()
                    if c.closed:
                        break
            if not c.send(head[i:i + piece]):
                break
            res["head_sent"] += len(head[i:i + piece])
        if plan.get("pipeline_hex") and not c.closed and not res["send_error"]:
            c.send(bytes.fromhex(plan["pipeline_hex"]))
        res["answer"] = read_answer(c)
        ok = res["answer"] is not None and res["answer"]["status"] == 200
    else:
        ok = True
        if plan.get("delay"):
            time.sleep(plan["delay"])

    if ok and not c.closed:
        if plan.get("after_hex"):
            c.send(bytes.fromhex(plan["after_hex"]))
        want = plan.get("expect", 0)
        while len(c.buf) < want and c.recv_some():
            pass
        if want and len(c.buf) >= want:
            if isinstance(s, ssl.SSLSocket):
                # The TLS half-close: our close_notify, then the peer's (after the upstream's end),
                # then the TCP end is read below.
                try:
                    s = c.s = s.unwrap()
                    res["close_notify"] = True
                except (ssl.SSLError, OSError) as e:
                    c._end(f"error: TLS shutdown: {e}")
            else:
                # Got what was expected: half-close and read what comes back until the end.
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        while c.recv_some():
            pass
    elif not c.closed:
        # A refusal: the gateway must end the connection itself (FIN after the answer).
        while c.recv_some():
            pass
    res["tunnel_len"] = len(c.buf)
    res["tunnel_hex"] = bytes(c.buf[:65536]).hex()
    try:
        s.close()
    except OSError:
        pass
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
