#!/usr/bin/env python3
"""A policy reload re-decides the live connections (issue 21, item 3; `policy.on_change`).

Policy A allows three echo destinations: 203.0.113.10:7 (rule allow-ten), 203.0.113.20:7
(allow-twenty) and 203.0.113.99:7 (allow-99). Three long connections talk under A, one tick every
0.2 s. Policy B removes allow-ten and allow-99 and adds deny-ten. After the SIGHUP:

* the connection to .10 is reset within one second: the client sees a reset, its close record says
  `reason: policy_revoked`, `closed_by: gateway`, `rule: deny-ten`; the one to .99 likewise, denied
  by the default now (no `rule`, its detail says so);
* the one to .20 is still allowed and keeps its bytes flowing across ten reloads (every tick echoed,
  a normal end);
* every policy.reload record counts the connections re-decided and closed (`parts.policy.redecided`,
  `parts.policy.revoked`).

With `policy.on_change: keep` the same reload leaves a connection to .10 open to its normal end, and
the reload record has no counts.

A connection allowed by the old policy whose upstream connect is under way during the reload (its
SYNs to 203.0.113.66:7 dropped in the internet namespace until the reload is recorded, so the
connect completes on the kernel's retransmit): the reload's pass skips it (`redecided: 0`), and it is
decided again when its relay starts: reset, close record `policy_revoked` by the gateway with the
rule that denies it now and the new policy version in its detail, 0 bytes up, and no byte of the
payload the client sent while it connected reaches the upstream. With `keep` the same connection
relays that payload and ends normally (eof).

A revoked connection busy both ways (256 MiB echoed at full speed, eight times): reset within one
second of the SIGHUP, and the upstream sees a reset, never the client's half-close (a direction
whose next turn was already queued when the reload cancelled the sockets relayed on, FIN included).
"""

import datetime
import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402

SETTINGS = """\
kind: Settings
default: deny
"""


def allow(rule_id: str, ip: str) -> str:
    return f"""\
---
kind: Rule
id: {rule_id}
action: allow
from: [{{source: 192.0.2.0/24}}]
to: [{{cidrs: [{ip}/32], ports: [7]}}]
"""


DENY_TEN = """\
---
kind: Rule
id: deny-ten
action: deny
from: [{any: true}]
to: [{cidrs: [203.0.113.10/32]}]
"""
POLICY_A = {"policy.yaml": SETTINGS + allow("allow-ten", "203.0.113.10") + allow("allow-twenty", "203.0.113.20")
            + allow("allow-99", "203.0.113.99")}
POLICY_B = {"policy.yaml": SETTINGS + allow("allow-twenty", "203.0.113.20") + DENY_TEN}
# B again with one more rule (its own version): the reloads alternate between the two.
POLICY_B2 = {"policy.yaml": POLICY_B["policy.yaml"] + allow("allow-thirty", "203.0.113.30")}

TICKS = 60        # 60 ticks 0.2 s apart: 12 s, longer than the ten reloads take
INTERVAL = "0.2"


def ts(rec: dict) -> float:
    return datetime.datetime.fromisoformat(rec["ts"].replace("Z", "+00:00")).timestamp()


def ticking(t: harness.Case, name: str, dst: str, ticks: int = TICKS):
    return t.client_bg(name, "--dst", dst, "--send", "tick\n", "--repeat", str(ticks), "--interval", INTERVAL,
                       "--shutdown", "--timeout", "30")


def wait_reloads(gw, count: int) -> list[dict]:
    return gw.wait_records(timeout=10, count=count, event="policy.reload")


def reevaluate(t: harness.Case) -> None:
    t.upstream("echo", ["203.0.113.10:7", "203.0.113.20:7", "203.0.113.99:7"])
    gw = t.egressd(POLICY_A)
    ten = ticking(t, "ten", "203.0.113.10:7")
    twenty = ticking(t, "twenty", "203.0.113.20:7")
    ninety_nine = ticking(t, "ninety-nine", "203.0.113.99:7")
    allowed = gw.wait_records(timeout=10, count=3, event="connection.decision", decision="allow")
    t.require(len(allowed) == 3, "policy A allows the three long connections",
              "\n      ".join(audit.pretty(r) for r in gw.records()))
    time.sleep(0.5)  # all three relaying, bytes flowing

    gw.write_policy(POLICY_B)
    hup = time.time()
    gw.reload()
    reloads = wait_reloads(gw, 1)
    t.require(len(reloads) == 1 and reloads[0].get("result") == "ok", "the reload to B is recorded ok",
              str(reloads))
    part = reloads[0].get("parts", {}).get("policy", {})
    t.check_eq((part.get("redecided"), part.get("revoked")), (3, 2),
               "the reload record counts 3 connections re-decided, 2 closed", audit.pretty(reloads[0]))
    t.check("redecide_unanswered" not in part, "every worker answered", str(part))

    closes = {}
    for dst in ("203.0.113.10:7", "203.0.113.99:7"):
        found = gw.wait_records(timeout=5, event="connection.close", dst=dst)
        closes[dst] = found[0] if found else {}
        t.check(bool(found), f"{dst}: a close record", "\n      ".join(audit.pretty(r) for r in gw.records()[-8:]))
    c10, c99 = closes["203.0.113.10:7"], closes["203.0.113.99:7"]
    t.check_eq((c10.get("reason"), c10.get("closed_by"), c10.get("rule")), ("policy_revoked", "gateway", "deny-ten"),
               "the connection to .10: policy_revoked by the gateway, rule deny-ten", audit.pretty(c10))
    t.check("deny-ten" in c10.get("detail", "") and reloads[0].get("version", "?") in c10.get("detail", ""),
            "... its detail names the rule and the new policy version", c10.get("detail", ""))
    t.check_eq((c99.get("reason"), "rule" in c99), ("policy_revoked", False),
               "the connection to .99: policy_revoked, no rule (the default denies it now)", audit.pretty(c99))
    t.check("now denied by default" in c99.get("detail", ""), "... its detail says the default denies it",
            c99.get("detail", ""))
    for dst, c in closes.items():
        if c:
            t.check(ts(c) - hup < 1.0, f"{dst}: closed within one second of the SIGHUP",
                    f"{ts(c) - hup:.3f} s")
    for name, proc in (("ten", ten), ("ninety-nine", ninety_nine)):
        r = t.client_result(proc, timeout=30)
        # The RST is reported once: to the reader (end: reset) or, when a send meets it first, to
        # the sender (ECONNRESET), after which the reader sees the closed socket as an end.
        t.check(r["end"] == "reset" or "ConnectionResetError" in (r.get("send_error") or ""),
                f"the {name} client sees a reset", str({k: r.get(k) for k in ("end", "send_error")}))
        t.check(0 < r["recv_len"] < len("tick\n") * TICKS and r["recv"] == "tick\n" * (r["recv_len"] // 5),
                f"... after the ticks echoed before it", f"{r['recv_len']} bytes")

    # Nine more reloads (ten in all): the connection to .20 stays allowed and keeps talking.
    for i in range(2, 11):
        gw.write_policy(POLICY_B2 if i % 2 == 0 else POLICY_B)
        gw.reload()
        got = wait_reloads(gw, i)
        t.require(len(got) == i, f"reload {i} recorded")
        time.sleep(0.3)  # ticks flow between the reloads
    counts = [(r.get("result"), r["parts"]["policy"].get("redecided"), r["parts"]["policy"].get("revoked"))
              for r in gw.records() if r.get("event") == "policy.reload"]
    t.check_eq(counts[1:], [("ok", 1, 0)] * 9, "reloads 2 to 10: ok, 1 connection re-decided, none closed")
    r = t.client_result(twenty, timeout=30)
    t.check_eq((r["recv"], r["end"]), ("tick\n" * TICKS, "eof"),
               "the connection to .20 kept every byte flowing across the ten reloads, to its normal end")
    c20 = gw.wait_records(timeout=5, event="connection.close", dst="203.0.113.20:7")
    t.check(bool(c20) and c20[0].get("reason") == "eof", "... and its close record says eof",
            audit.pretty(c20[0]) if c20 else "none")
    t.check_eq(gw.terminate(), 0, "egressd exits 0 on SIGTERM")


def keep(t: harness.Case) -> None:
    gw = t.egressd(POLICY_A, {"policy": {"on_change": "keep"}}, name="egressd-keep")
    ten = ticking(t, "ten-keep", "203.0.113.10:7", ticks=15)
    t.require(bool(gw.wait_records(timeout=10, event="connection.decision", decision="allow")),
              "keep: policy A allows the connection to .10")
    time.sleep(0.5)
    gw.write_policy(POLICY_B)
    gw.reload()
    reloads = wait_reloads(gw, 1)
    t.require(len(reloads) == 1 and reloads[0].get("result") == "ok", "keep: the reload to B is recorded ok")
    part = reloads[0].get("parts", {}).get("policy", {})
    t.check("redecided" not in part and "revoked" not in part, "keep: the reload record has no counts", str(part))
    r = t.client_result(ten, timeout=30)
    t.check_eq((r["recv"], r["end"]), ("tick\n" * 15, "eof"),
               "keep: the connection B denies stays open to its normal end")
    c = gw.wait_records(timeout=5, event="connection.close", dst="203.0.113.10:7")
    t.check(bool(c) and c[0].get("reason") == "eof", "keep: its close record says eof",
            audit.pretty(c[0]) if c else "none")
    t.check_eq(gw.terminate(), 0, "keep: egressd exits 0 on SIGTERM")


# The connection whose upstream connect is under way during the reload: its SYNs to .66 are dropped
# in the internet namespace until the reload is recorded, so the connect completes on a retransmit
# (1 s after the first SYN) under the new policy. The reload's pass skips it (not relaying yet); it
# is decided again when its relay starts.
PENDING_DST = "203.0.113.66:7"
PENDING_PAYLOAD = "sent-while-connecting\n"
POLICY_PENDING_A = {"policy.yaml": SETTINGS + allow("allow-66", "203.0.113.66")}
POLICY_PENDING_B = {"policy.yaml": SETTINGS + allow("allow-twenty", "203.0.113.20") + """\
---
kind: Rule
id: deny-66
action: deny
from: [{any: true}]
to: [{cidrs: [203.0.113.66/32]}]
"""}
SYN_DROP = ["INPUT", "-d", "203.0.113.66", "-p", "tcp", "--dport", "7", "--syn", "-j", "DROP"]


def syns_dropped(t: harness.Case) -> int:
    out = t.sb.exec(t.sb.internet, ["iptables", "-w", "-nvxL", "INPUT"]).stdout
    return sum(int(line.split()[0]) for line in out.splitlines() if "DROP" in line and "203.0.113.66" in line)


def connect_pending(t: harness.Case, up, on_change: str) -> None:
    what = f"{on_change}, connect pending"
    gw = t.egressd(POLICY_PENDING_A, {"policy": {"on_change": on_change}, "upstream": {"connect_timeout": "6s"}},
                   name=f"egressd-pending-{on_change}")
    seen = len(up.events())
    t.sb.exec(t.sb.internet, ["iptables", "-w", "-A", *SYN_DROP])
    try:
        # The payload goes out at once: egressd holds it (or the client's socket does) while it
        # connects upstream; then the client waits, half-closes and reads to the end.
        client = t.client_bg(f"pending-{on_change}", "--dst", PENDING_DST, "--send", PENDING_PAYLOAD,
                             "--linger", "3", "--shutdown", "--timeout", "10")
        # The decision record is written before the upstream connect starts (write-ahead).
        dec = gw.wait_records(timeout=10, event="connection.decision", decision="allow", rule="allow-66")
        t.require(bool(dec), f"{what}: policy A allows the connection to .66")
        deadline = time.monotonic() + 3
        while syns_dropped(t) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        t.require(syns_dropped(t) >= 1, f"{what}: the upstream connect is under way (its SYN dropped)")
        gw.write_policy(POLICY_PENDING_B)
        gw.reload()
        reloads = wait_reloads(gw, 1)
        t.require(len(reloads) == 1 and reloads[0].get("result") == "ok", f"{what}: the reload to B is recorded ok",
                  str(reloads))
        t.require(not up.events()[seen:], f"{what}: the upstream has not accepted it before the reload",
                  str(up.events()[seen:]))
    finally:
        t.sb.exec(t.sb.internet, ["iptables", "-w", "-D", *SYN_DROP])
    part = reloads[0].get("parts", {}).get("policy", {})
    close = gw.wait_records(timeout=8, event="connection.close", dst=PENDING_DST)
    c = close[0] if close else {}
    t.require(bool(close), f"{what}: a close record", "\n      ".join(audit.pretty(r) for r in gw.records()[-8:]))
    t.check_eq(c.get("conn_id"), dec[0].get("conn_id"), f"{what}: ... of the connection A allowed")
    r = t.client_result(client, timeout=20)
    # Every connection the upstream accepted has ended by now: wait for its close event.
    up.wait_closes(len([e for e in up.events() if e["event"] == "accept"]))
    events = up.events()[seen:]
    accepts = [e for e in events if e["event"] == "accept"]
    closes = [e for e in events if e["event"] == "close"]
    if on_change == "reevaluate":
        t.check_eq((part.get("redecided"), part.get("revoked")), (0, 0),
                   f"{what}: the reload's pass skipped it (not relaying yet): 0 re-decided, 0 closed", str(part))
        t.check_eq((c.get("reason"), c.get("closed_by"), c.get("rule")), ("policy_revoked", "gateway", "deny-66"),
                   f"{what}: decided again when its relay starts: policy_revoked by the gateway, rule deny-66",
                   audit.pretty(c))
        t.check("now denied by rule 'deny-66'" in c.get("detail", "")
                and reloads[0].get("version", "?") in c.get("detail", ""),
                f"{what}: its detail names the rule and the new policy version", c.get("detail", ""))
        t.check_eq(audit.bytes_up(c), 0, f"{what}: the close record counts 0 bytes up", audit.pretty(c))
        t.check(r["end"] == "reset" or "ConnectionResetError" in (r.get("send_error") or ""),
                f"{what}: the client sees a reset", str({k: r.get(k) for k in ("end", "send_error")}))
        t.check_eq(r["recv_len"], 0, f"{what}: the client receives no byte")
        t.check(len(closes) == len(accepts) and all(e["bytes_in"] == 0 for e in closes),
                f"{what}: no payload byte reached the upstream", str(events))
    else:
        t.check("redecided" not in part, f"{what}: the reload record has no counts", str(part))
        t.check_eq((c.get("reason"), audit.bytes_up(c)), ("eof", len(PENDING_PAYLOAD)),
                   f"{what}: the connection relays its bytes to its normal end (eof)", audit.pretty(c))
        t.check_eq((r["recv"], r["end"]), (PENDING_PAYLOAD, "eof"), f"{what}: the client reads its bytes back")
        t.check_eq([e["bytes_in"] for e in closes], [len(PENDING_PAYLOAD)], f"{what}: the upstream read the payload",
                   str(events))
    t.check_eq(gw.terminate(), 0, f"{what}: egressd exits 0 on SIGTERM")


BUSY_DST = "203.0.113.10:9"
BUSY_BYTES = 256 << 20
POLICY_BUSY_A = {"policy.yaml": SETTINGS + allow("allow-busy", "203.0.113.10").replace("ports: [7]", "ports: [9]")}


def busy(t: harness.Case, up, attempt: int) -> None:
    """A revoked connection busy both ways (256 MiB echoed at full speed): a direction whose next
    turn was already queued when the sockets were cancelled must not relay on. Reset within one
    second of the SIGHUP, and the upstream sees a reset, never the client's half-close (FIN)."""
    what = f"busy connection, attempt {attempt}"
    gw = t.egressd(POLICY_BUSY_A, name=f"egressd-busy-{attempt}")
    seen = len(up.closes())
    client = t.client_bg(f"busy-{attempt}", "--dst", BUSY_DST, "--send-bytes", str(BUSY_BYTES), "--shutdown",
                         "--timeout", "30")
    t.require(bool(gw.wait_records(timeout=10, event="connection.decision", decision="allow")),
              f"{what}: policy A allows it")
    time.sleep(0.3)  # bytes flowing both ways
    gw.write_policy(POLICY_B)
    hup = time.time()
    gw.reload()
    close = gw.wait_records(timeout=30, event="connection.close", dst=BUSY_DST)
    c = close[0] if close else {}
    t.check_eq(c.get("reason"), "policy_revoked", f"{what}: policy_revoked", audit.pretty(c) if c else "none")
    if c:
        t.check(ts(c) - hup < 1.0, f"{what}: closed within one second of the SIGHUP, not when its bytes ran out",
                f"{ts(c) - hup:.3f} s, bytes_up {audit.bytes_up(c)} of {BUSY_BYTES}")
    t.client_result(client, timeout=60)
    ends = up.wait_closes(seen + 1, timeout=30)[seen:]
    t.check(len(ends) == 1 and ends[0]["end"] == "reset" and ends[0]["bytes_in"] < BUSY_BYTES,
            f"{what}: the upstream sees a reset, no FIN, and not every byte", str(ends))
    gw.terminate()


def run(t: harness.Case) -> None:
    reevaluate(t)
    keep(t)
    up = t.upstream("echo", [PENDING_DST], name="echo-66")
    connect_pending(t, up, "reevaluate")
    connect_pending(t, up, "keep")
    sink = t.upstream("echo", [BUSY_DST], name="echo-busy")
    for attempt in range(1, 9):
        busy(t, sink, attempt)


harness.main(run)
