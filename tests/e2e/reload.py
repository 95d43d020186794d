#!/usr/bin/env python3
"""SIGHUP reloads the policy: new connections follow the new one; a broken one changes nothing.

Policy A (LAB): 203.0.113.10:7 allowed, 203.0.113.99:7 denied by default.
Policy B: adds rule deny-ten (203.0.113.10) and rule allow-99 (203.0.113.99): the decisions flip.
A connection opened under A and still talking during the reload keeps working to its end.
Policy C: B plus a file with an unknown key: the reload fails, egressd keeps running B (same
decisions, same policy_version) and its log names the broken file and line.
"""

import os
import re
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
from policies import LAB  # noqa: E402

DENY_TEN = """\
kind: Rule
id: deny-ten
action: deny
from: [{role: sandbox-clients}]
to: [{cidrs: [203.0.113.10/32]}]
"""
ALLOW_99 = """\
kind: Rule
id: allow-99
action: allow
from: [{role: sandbox-clients}]
to: [{cidrs: [203.0.113.99/32], ports: [7]}]
"""
BROKEN = """\
kind: Rule
id: broken-rule
action: allow
from: [{role: sandbox-clients}]
to: [{cidrs: [203.0.113.20/32]}]
colour: blue
"""
POLICY_A = {"10-lab.yaml": LAB}
POLICY_B = {"10-lab.yaml": LAB, "20-changes.yaml": DENY_TEN + "---\n" + ALLOW_99}
POLICY_C = dict(POLICY_B, **{"30-broken.yaml": BROKEN})


def run(t: harness.Case) -> None:
    up = t.upstream("echo", ["203.0.113.10:7", "203.0.113.99:7"])
    gw = t.egressd(POLICY_A)

    def probe(dst: str) -> tuple[dict, dict | None]:
        # Send only once the read side is waiting, so a reset is seen as one (see check_denied).
        r = t.client("--dst", dst, "--send", "probe\n", "--delay-send", "0.2", "--shutdown",
                     "--timeout", "5")
        return r, t.decision_for(gw, r)

    r, d = probe("203.0.113.10:7")
    t.check_eq(r["recv"], "probe\n", "A: 203.0.113.10 allowed")
    version_a = d.get("policy_version") if d else None
    r, d = probe("203.0.113.99:7")
    t.check_eq((r["recv_len"], d and d.get("reason")), (0, "default"), "A: 203.0.113.99 denied by default")

    # A long connection that spans the reload.
    long = t.client_bg("long", "--dst", "203.0.113.10:7", "--send", "tick\n", "--repeat", "10",
                       "--interval", "0.25", "--shutdown", "--timeout", "10")
    deadline = time.monotonic() + 5
    while len(up.accepts()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)

    gw.write_policy(POLICY_B)
    gw.reload()
    deadline = time.monotonic() + 5
    while True:  # a reload is asynchronous: wait until new connections see it
        r, d = probe("203.0.113.99:7")
        if r["recv"] == "probe\n" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    t.check_eq(r["recv"], "probe\n", "B: 203.0.113.99 now allowed")
    t.check_eq(d and (d.get("decision"), d.get("rule")), ("allow", "allow-99"), "B: by rule allow-99")
    version_b = d.get("policy_version") if d else None
    t.check(version_b and version_b != version_a, "B: records carry a new policy_version",
            f"A {version_a}, B {version_b}")
    r, d = probe("203.0.113.10:7")
    t.check_eq((r["recv_len"], r["end"]), (0, "reset"), "B: 203.0.113.10 now reset")
    t.check_eq(d and (d.get("decision"), d.get("reason"), d.get("rule")), ("deny", "rule", "deny-ten"),
               "B: denied by rule deny-ten")

    lr = t.client_result(long, timeout=15)
    t.check_eq(lr["recv"], "tick\n" * 10, "the connection opened under A kept working through the reload")
    t.check_eq(lr["end"], "eof", "... to its normal end")

    # C: broken. The old policy (B) stays.
    stderr_before = len(gw.stderr())
    gw.write_policy(POLICY_C)
    gw.reload()
    deadline = time.monotonic() + 5
    while "30-broken.yaml" not in gw.stderr()[stderr_before:] and time.monotonic() < deadline:
        time.sleep(0.05)
    log = gw.stderr()[stderr_before:]
    t.check("30-broken.yaml" in log, "C: the error log names the broken file", log[-1000:])
    t.check(re.search(r"30-broken\.yaml:\d+", log) is not None, "C: ... with its line", log[-1000:])
    t.check("colour" in log, "C: ... and the offending key", log[-1000:])
    t.check(gw.proc.running(), "C: egressd still runs")
    r, d = probe("203.0.113.99:7")
    t.check_eq(r["recv"], "probe\n", "C: 203.0.113.99 still allowed (B stays)")
    t.check_eq(d and d.get("policy_version"), version_b, "C: policy_version unchanged")
    r, d = probe("203.0.113.10:7")
    t.check_eq((r["recv_len"], d and d.get("rule")), (0, "deny-ten"), "C: 203.0.113.10 still denied")
    reloads = audit.matching(gw.records(), event="policy.reload")
    print(f"     policy.reload records: {[(x.get('result'), x.get('errors')) for x in reloads]}")
    if reloads:  # issue "Audit log v1" adds these; when present they must tell the truth
        t.check_eq([x.get("result") for x in reloads][-2:], ["ok", "failed"],
                   "policy.reload records: ok, then failed")


harness.main(run)
