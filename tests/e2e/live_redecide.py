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


def run(t: harness.Case) -> None:
    reevaluate(t)
    keep(t)


harness.main(run)
