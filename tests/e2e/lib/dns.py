"""A real DNS server for the sandbox: dnsmasq (Debian's dnsmasq-base) in the internet namespace.

    dns = DnsServer.start(sb, {"api.lab.example": ["203.0.113.10"]})   # at 203.0.113.53:53
    dns.set("api.lab.example", ["203.0.113.20"])     # rewrite the hosts file, SIGHUP, wait
    dns.remove("api.lab.example")                    # NXDOMAIN from now on
    dns.silence(); dns.unsilence()                   # no answer at all (UDP and TCP 53 dropped)
    dns.query("api.lab.example")                     # what the server says now, from the gateway

dnsmasq answers only from a hosts file the case writes (`--addn-hosts`, no /etc/hosts, no
upstream servers); the names under `domain` (default `lab.example`) are local (`--local`), so a
name missing from the file is NXDOMAIN, not forwarded. Every answer carries `ttl` seconds
(`--local-ttl`; small, so a gateway with a small `dns.min_ttl` sees changes). `set`/`remove`
rewrite the file and send SIGHUP, then wait until a query from the gateway namespace returns the
new answer, so the case's next connection meets it.

The server address must be one of the sandbox's internet addresses: pass
`extra_v4=[dns.DNS_V4]` to the Sandbox (harness.main). The process is one of the sandbox's
processes: killed on every exit path by its teardown; `stop()` ends it earlier.

Run as a script (`dns.py query NAME SERVER [TYPE]`) it prints the answer as JSON: the case calls
it inside the gateway namespace.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DNS_V4 = "203.0.113.53"
DNS_PORT = 53
TYPE_A, TYPE_AAAA = 1, 28
RCODES = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}


# ------------------------------------------------------------------ a minimal stub query


def _qname(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def _skip_name(msg: bytes, i: int) -> int:
    while True:
        n = msg[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += 1 + n


def query(name: str, server: str = DNS_V4, qtype: int = TYPE_A, timeout: float = 1.0) -> dict:
    """One UDP query: {"rcode": "NOERROR" | "NXDOMAIN" | ... | "timeout", "answers": [addr...],
    "ttls": [int...]}."""
    qid = random.randrange(1 << 16)
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + _qname(name) + struct.pack(">HH", qtype, 1)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (server, DNS_PORT))
        try:
            while True:
                msg, _ = s.recvfrom(4096)
                if len(msg) >= 12 and struct.unpack(">H", msg[:2])[0] == qid:
                    break
        except (socket.timeout, ConnectionRefusedError) as e:
            return {"rcode": "timeout" if isinstance(e, socket.timeout) else "refused",
                    "answers": [], "ttls": []}
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    i = 12
    for _ in range(qd):
        i = _skip_name(msg, i) + 4
    answers, ttls = [], []
    for _ in range(an):
        i = _skip_name(msg, i)
        rtype, _, ttl, rdlen = struct.unpack(">HHIH", msg[i:i + 10])
        rdata = msg[i + 10:i + 10 + rdlen]
        i += 10 + rdlen
        if rtype == TYPE_A and rdlen == 4:
            answers.append(socket.inet_ntop(socket.AF_INET, rdata))
            ttls.append(ttl)
        elif rtype == TYPE_AAAA and rdlen == 16:
            answers.append(socket.inet_ntop(socket.AF_INET6, rdata))
            ttls.append(ttl)
    rcode = flags & 0xF
    return {"rcode": RCODES.get(rcode, str(rcode)), "answers": answers, "ttls": ttls}


# ------------------------------------------------------------------ the server


@dataclass
class DnsServer:
    sb: object  # sandbox.Sandbox (not imported here: this file also runs as a script)
    proc: object  # sandbox.Process
    hosts_path: Path
    address: str
    records: dict[str, list[str]] = field(default_factory=dict)
    silenced: bool = False

    @classmethod
    def start(cls, sb, records: dict[str, list[str]] | None = None, address: str = DNS_V4,
              ttl: int = 1, domain: str = "lab.example", name: str = "dnsmasq") -> "DnsServer":
        hosts = sb.dir / f"{name}.hosts"
        srv = cls(sb, None, hosts, address, {k.lower(): list(v) for k, v in (records or {}).items()})
        srv._write()
        argv = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--pid-file=",
                "--user=root", "--group=root", "--no-hosts", "--no-resolv", "--no-poll",
                f"--addn-hosts={hosts}", f"--local=/{domain}/", f"--local-ttl={ttl}",
                "--cache-size=0", f"--listen-address={address}", "--bind-interfaces",
                f"--port={DNS_PORT}", "--log-queries", "--log-facility=-"]
        srv.proc = sb.spawn(sb.internet, name, argv)
        deadline = time.monotonic() + 10
        while True:
            if not srv.proc.running():
                raise RuntimeError(f"dnsmasq exited ({srv.proc.popen.returncode}):\n"
                                   f"{srv.proc.stderr_text()[-2000:]}")
            if sb.listening(sb.internet, DNS_PORT) > 0:  # the TCP socket; UDP is bound with it
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"dnsmasq not listening on {address}:{DNS_PORT} after 10s:\n"
                                   f"{srv.proc.stderr_text()[-2000:]}")
            time.sleep(0.02)
        for host, addrs in srv.records.items():
            srv._wait_for(host, addrs)
        return srv

    @property
    def server(self) -> str:
        """The `dns.servers` entry for egressd's config."""
        return f"[{self.address}]:{DNS_PORT}" if ":" in self.address else f"{self.address}:{DNS_PORT}"

    def _write(self) -> None:
        lines = [f"{addr} {host}" for host, addrs in sorted(self.records.items()) for addr in addrs]
        tmp = self.hosts_path.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in lines))
        os.replace(tmp, self.hosts_path)

    def set(self, host: str, addrs: list[str]) -> None:
        """From now on `host` resolves to exactly `addrs` (A and AAAA)."""
        self.records[host.lower()] = list(addrs)
        self._reload(host.lower(), list(addrs))

    def remove(self, host: str) -> None:
        """From now on `host` is NXDOMAIN."""
        self.records.pop(host.lower(), None)
        self._reload(host.lower(), [])

    def _reload(self, host: str, addrs: list[str]) -> None:
        self._write()
        self.proc.signal(signal.SIGHUP)
        self._wait_for(host, addrs)

    def _wait_for(self, host: str, addrs: list[str], timeout: float = 5.0) -> None:
        want_rcode = "NOERROR" if addrs else "NXDOMAIN"
        deadline = time.monotonic() + timeout
        while True:
            got = self.query(host, TYPE_A), self.query(host, TYPE_AAAA)
            answers = sorted(got[0]["answers"] + got[1]["answers"])
            if got[0]["rcode"] == want_rcode and answers == sorted(addrs):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"dnsmasq: {host} answers {got}, expected {want_rcode} {addrs}:\n"
                                   f"{self.proc.stderr_text()[-2000:]}")
            time.sleep(0.05)

    def silence(self) -> None:
        """No answer at all: queries to the server are dropped in the internet namespace."""
        for proto in ("udp", "tcp"):
            self.sb.exec(self.sb.internet, ["iptables", "-w", "-I", "INPUT", "-d", self.address, "-p", proto,
                                            "--dport", str(DNS_PORT), "-j", "DROP"])
        self.silenced = True

    def unsilence(self) -> None:
        for proto in ("udp", "tcp"):
            self.sb.exec(self.sb.internet, ["iptables", "-w", "-D", "INPUT", "-d", self.address, "-p", proto,
                                            "--dport", str(DNS_PORT), "-j", "DROP"])
        self.silenced = False

    def query(self, host: str, qtype: int = TYPE_A) -> dict:
        """Asks the server from the gateway namespace (where egressd asks it)."""
        from sandbox import PYTHON  # noqa: PLC0415 - the script mode needs no sandbox

        p = self.sb.exec(self.sb.gateway, [PYTHON, __file__, "query", host, self.address, str(qtype)],
                         check=False, timeout=10)
        if p.returncode != 0:
            raise RuntimeError(f"dns.py query {host} failed: {p.stderr}")
        return json.loads(p.stdout)

    def queries(self, host: str | None = None) -> list[str]:
        """The queries dnsmasq logged (lines `query[A] NAME from ADDR`), for `host` if given."""
        out = []
        for line in self.proc.stderr_text().splitlines():
            if "query[" in line and (host is None or f" {host.lower()} " in line.lower() + " "):
                out.append(line)
        return out

    def stop(self) -> None:
        self.proc.stop()


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "query":
        qt = int(sys.argv[4]) if len(sys.argv) > 4 else TYPE_A
        print(json.dumps(query(sys.argv[2], sys.argv[3], qt)))
        sys.exit(0)
    print(__doc__, file=sys.stderr)
    sys.exit(2)
