"""The hostname cases' shared parts (issue 19): their policy, their gateway config, a DNS server,
and a client that writes exact bytes (a real ClientHello, an HTTP request) in chosen pieces.

Names live under lab.example, served by lib/dns.py's dnsmasq at 203.0.113.53:
    api.lab.example      203.0.113.10, 2001:db8:2::10   allowed on 443 by name (rule api-by-name)
    www.lab.example      203.0.113.10                   allowed on 80 by name (rule web-by-name)
The attacker's address 203.0.113.99 is in no rule. 203.0.113.20:25 is allowed by address only
(rule smtp-by-address): no hostname rule can match it, so it never waits for a name.
"""

from __future__ import annotations

import json

import audit
import dns
from sandbox import LIB_DIR, PYTHON

API, WWW = "api.lab.example", "www.lab.example"
REAL_V4, REAL_V6, OTHER_V4, ATTACKER_V4 = "203.0.113.10", "2001:db8:2::10", "203.0.113.20", "203.0.113.99"
RECORDS = {API: [REAL_V4, REAL_V6], WWW: [REAL_V4]}
SANDBOX_V4 = [dns.DNS_V4]  # harness.main(..., extra_v4=SANDBOX_V4)

SETTINGS = """\
kind: Settings
default: deny
mode: enforce
host_verification: {verification}
"""

ROLE = """\
kind: Role
name: sandbox-clients
members:
  - source: 192.0.2.0/24
  - source: "2001:db8:1::/64"
"""

RULES = """\
kind: Rule
id: api-by-name
action: allow
from: [{role: sandbox-clients}]
to: [{hosts: [api.lab.example, "*.cdn.lab.example"], ports: [443]}]
---
kind: Rule
id: web-by-name
action: allow
from: [{role: sandbox-clients}]
to: [{hosts: [www.lab.example], ports: [80]}]
---
kind: Rule
id: smtp-by-address
action: allow
from: [{role: sandbox-clients}]
to: [{cidrs: [203.0.113.20/32], ports: [25]}]
"""


def policy(verification: str = "strict") -> str:
    return "---\n".join([SETTINGS.format(verification=verification), ROLE, RULES])


def config(min_ttl: str = "60s", peek_timeout: str = "3s", dns_timeout: str = "1s") -> dict:
    """Gateway config: the name step's keys (docs/config.md) pointed at the sandbox's DNS server.
    peek.timeout is 3s so a case timing "no added wait" has a wide margin under ASan."""
    return {
        "listeners": [{"name": "egress", "address": "[::]:15001", "destination": "original_dst",
                       "peek": {"timeout": peek_timeout, "max_bytes": "16KiB"}}],
        "dns": {"servers": [f"{dns.DNS_V4}:{dns.DNS_PORT}"], "min_ttl": min_ttl, "timeout": dns_timeout},
    }


def send(t, dst: str, steps: list[dict], timeout: float = 5.0, shutdown: bool = True) -> dict:
    """Runs lib/segments_client.py in the client namespace; returns its JSON result."""
    plan = t.sb.dir / f"plan-{len(list(t.sb.dir.glob('plan-*.json')))}.json"
    plan.write_text(json.dumps({"dst": dst, "steps": steps, "timeout": timeout, "shutdown": shutdown}))
    p = t.sb.exec(t.sb.client, [PYTHON, str(LIB_DIR / "segments_client.py"), str(plan)], check=False,
                  timeout=timeout * 4 + 30)
    if p.returncode != 0:
        raise RuntimeError(f"segments_client.py failed ({p.returncode}): {p.stderr}")
    return json.loads(p.stdout)


def met(result: dict, i: int) -> float | None:
    """When the client's i-th "expect" step was met (seconds after connect), None if never."""
    got = result.get("expect_s") or []
    return got[i] if i < len(got) else None


def write(data: bytes, piece: int = 0, gap: float = 0.0) -> dict:
    return {"hex": data.hex(), "piece": piece, "gap": gap}


def _brief(r: dict) -> str:
    return str({k: v for k, v in r.items() if k != "recv_hex"})


def decision(t, gw, result: dict, what: str) -> dict:
    """The connection.decision record of the connection `result` describes (by its source)."""
    t.require(bool(result.get("local")), f"{what}: the client connected", _brief(result))
    found = gw.wait_records(timeout=5, event="connection.decision", src=result["local"])
    shown = "\n      ".join(audit.pretty(r) for r in gw.records()[-6:])
    t.require(len(found) == 1, f"{what}: one decision record", f"found {len(found)}:\n      {shown}")
    return found[0]


def check_name(t, dec: dict, what: str, host: str | None, source: str, verified: str,
               answers: list[str] | None) -> None:
    """The decision record's name fields (docs/audit.md): exact values; None = absent."""
    t.check_eq(dec.get("host"), host, f"{what}: host")
    t.check_eq(dec.get("name_source"), source, f"{what}: name_source")
    t.check_eq(dec.get("name_verified"), verified, f"{what}: name_verified")
    got = dec.get("dns_answers")
    t.check_eq(sorted(got) if isinstance(got, list) else got, sorted(answers) if answers else None,
               f"{what}: dns_answers")


def relay(t, gw, up, dst: str, steps: list[dict], sent: bytes, what: str, timeout: float = 5.0) -> dict:
    """Sends `steps` (which write `sent` in all) to an echo upstream and checks an allowed
    connection: the upstream got exactly `sent` and the client read it back; one allow decision
    and one close record counting the bytes. Returns the decision record."""
    before = len(up.closes())
    r = send(t, dst, steps + [{"expect": len(sent)}], timeout=timeout)
    got = bytes.fromhex(r["recv_hex"])
    t.check(got == sent, f"{what}: the client reads its {len(sent)} bytes back through the upstream echo",
            f"read {len(got)} bytes, {'equal' if got == sent else 'different'}; {_brief(r)}")
    t.check_eq(r["end"], "eof", f"{what}: clean EOF")
    dec = decision(t, gw, r, what)
    if not t.check_eq((dec.get("decision"), dec.get("reason")), ("allow", "rule"), f"{what}: allowed by rule"):
        return dec  # denied: no close record or upstream connection to wait for
    close = gw.wait_records(timeout=5, event="connection.close", conn_id=dec.get("conn_id"))
    if t.check(len(close) == 1, f"{what}: one close record", str(close)):
        t.check_eq(close[0].get("bytes_up"), len(sent), f"{what}: close record's bytes_up")
    closes = up.wait_closes(before + 1)[before:]
    t.check(len(closes) == 1 and closes[0]["bytes_in"] == len(sent),
            f"{what}: the upstream received all of it on one connection", str(closes))
    return dec


def check_reset(t, gw, ups, result: dict, what: str, reason: str) -> dict:
    """A denied connection: reset with no byte received, nothing upstream, a deny record."""
    t.check_eq(result["recv_len"], 0, f"{what}: the client receives no bytes")
    t.check(result["end"] in ("reset", "eof"), f"{what}: the connection is ended by the gateway",
            str(result["end"]))
    dec = decision(t, gw, result, what)
    t.check_eq((dec.get("decision"), dec.get("reason")), ("deny", reason), f"{what}: denied")
    t.check(not dec.get("rule"), f"{what}: no rule named", str(dec.get("rule")))
    closes = audit.matching(gw.records(), event="connection.close", conn_id=dec.get("conn_id"))
    t.check(not closes, f"{what}: no close record for a denied connection", str(closes[:1]))
    for up in ups:
        t.check_eq(len(up.accepts()), 0, f"{what}: upstream {up.proc.name} accepted nothing")
    return dec


def syn_counter(t, addr: str, port: int) -> None:
    """Counts TCP SYNs to addr:port arriving in the internet namespace (see syns)."""
    t.sb.exec(t.sb.internet, ["iptables", "-w", "-I", "INPUT", "-d", addr, "-p", "tcp", "--dport",
                              str(port), "--syn", "-j", "ACCEPT"])


def syns(t, addr: str, port: int) -> int:
    out = t.sb.exec(t.sb.internet, ["iptables", "-w", "-L", "INPUT", "-v", "-x", "-n"]).stdout
    total = 0
    for line in out.splitlines():
        f = line.split()
        # "pkts bytes ACCEPT 6 -- * * 0.0.0.0/0 ADDR tcp dpt:PORT flags:0x17/0x02" (--syn)
        if (len(f) > 8 and f[2] == "ACCEPT" and f[8] == addr and f"dpt:{port}" in f
                and "flags:0x17/0x02" in f):
            total += int(f[0])
    return total
