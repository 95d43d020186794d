#!/usr/bin/env python3
"""SIGHUP reloads the policy: new connections follow the new one; a broken one changes nothing.

Policy A (LAB): 203.0.113.10:7 allowed, 203.0.113.99:7 denied by default.
Policy B: adds rule deny-ten (203.0.113.10) and rule allow-99 (203.0.113.99): the decisions flip.
A connection opened under A and still talking during the reload keeps working to its end
(`policy.on_change: keep`; with the default it would be reset: e2e.live_redecide).
Policy C: B plus a file with an unknown key: the reload fails, egressd keeps running B (same
decisions, same policy_version) and its log names the broken file and line.

A reload during a TLS handshake (issue 17 item 8): a client connects under T1 (payments allowed to
203.0.113.20:8443) and holds its ClientHello; the policy is reloaded to T2 (that destination
denied) and the policy.reload record is written; then the client finishes its handshake: it is
denied by T2 (reset, nothing upstream) and its decision record names T2's policy_version. (The
snapshot used to be taken at accept: T1 allowed it.)
"""

import json
import os
import re
import shutil
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
import tls_pki  # noqa: E402
from policies import LAB  # noqa: E402
from sandbox import PYTHON  # noqa: E402

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

TLS_DST = "203.0.113.20:8443"
POLICY_T1 = """\
kind: Settings
default: deny
mode: enforce
---
kind: Role
name: payments
members:
  - identity: "spiffe://corp.example/ns/payments/sa/*"
---
kind: Rule
id: payments-to-card-networks
action: allow
from: [{role: payments}]
to: [{cidrs: [203.0.113.20/32], ports: [8443]}]
"""
POLICY_T2 = POLICY_T1 + """\
---
kind: Rule
id: deny-card-networks
action: deny
from: [{any: true}]
to: [{cidrs: [203.0.113.20/32]}]
"""

# A TLS client that connects, says so, and starts its handshake only once the file `go` exists.
LATE_HANDSHAKE = r"""
import json, os, socket, ssl, sys, time
dst, ca, cert, key, go = sys.argv[1:6]
host, _, port = dst.rpartition(":")
s = socket.create_connection((host, int(port)), timeout=10)
print(json.dumps({"event": "connected", "local": "%s:%d" % s.getsockname()[:2]}), flush=True)
deadline = time.monotonic() + 20
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.02)
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
out = {"event": "done", "recv": "", "end": "eof"}
try:
    t = ctx.wrap_socket(s, server_hostname="egressd.local")
    t.sendall(b"late\n")
    t.settimeout(5)
    while True:
        b = t.recv(4096)
        if not b:
            break
        out["recv"] += b.decode(errors="replace")
        if out["recv"].endswith("\n"):
            break
except (ConnectionResetError, ssl.SSLError, OSError) as e:
    out["end"] = "reset" if isinstance(e, ConnectionResetError) else type(e).__name__
print(json.dumps(out), flush=True)
"""


def reload_during_handshake(t: harness.Case) -> None:
    pki = tls_pki.make_pki(t.sb, t.args.source_dir)
    echo = t.upstream("echo", [TLS_DST], name="tls-echo")
    gw = t.egressd({"10-tls.yaml": POLICY_T1}, {"listeners": [tls_pki.tls_listener(pki)]}, name="egressd-tls")
    p = tls_pki.socat(t.sb, pki, TLS_DST, "payments", "t1\n")
    t.check_eq(p.stdout, "t1\n", "T1: payments allowed to 203.0.113.20:8443", p.stderr[-300:])
    d1 = gw.wait_records(event="connection.decision", decision="allow")
    version_t1 = d1[-1].get("policy_version") if d1 else None

    go = t.sb.dir / "late-handshake.go"
    late = t.sb.spawn(t.sb.client, "late-handshake", [
        PYTHON, "-c", LATE_HANDSHAKE, TLS_DST, str(pki / "ca.pem"), str(pki / "payments.pem"),
        str(pki / "payments.key"), str(go)])
    deadline = time.monotonic() + 10
    while "connected" not in late.stdout_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    lines = late.stdout_path.read_text().splitlines()
    t.require(bool(lines), "the late client is connected (TCP), its ClientHello held", late.stderr_text()[-500:])
    local = json.loads(lines[0])["local"]
    time.sleep(0.5)  # egressd has accepted it (and, before the fix, taken T1 for it)
    accepts_before = len(echo.accepts())

    gw.write_policy({"10-tls.yaml": POLICY_T2})
    gw.reload()
    reloads = gw.wait_records(event="policy.reload", result="ok")
    t.require(bool(reloads), "the reload to T2 is recorded (policy.reload ok)")
    version_t2 = reloads[-1].get("version")
    t.check(bool(version_t2) and version_t2 != version_t1, "T2 has a policy version of its own",
            f"T1 {version_t1}, T2 {version_t2}")

    go.touch()
    t.check_eq(late.wait(timeout=20), 0, "the late client exits 0", late.stderr_text()[-500:])
    res = json.loads(late.stdout_path.read_text().splitlines()[-1])
    # How the client sees the end (reset or EOF) depends on timing; that nothing came back does not.
    t.check_eq(res["recv"], "", "the client that finished its handshake after the reload is denied (no echo)",
               str(res))
    t.check_eq(len(echo.accepts()), accepts_before, "the upstream accepted nothing for it")
    d = gw.wait_records(event="connection.decision", src=local)
    t.check(len(d) == 1 and d[0].get("decision") == "deny" and d[0].get("rule") == "deny-card-networks"
            and d[0].get("policy_version") == version_t2,
            "its decision record: deny by T2's rule deny-card-networks, with T2's policy_version",
            "\n      ".join(audit.pretty(x) for x in d) or "no record")
    t.check_eq(gw.terminate(), 0, "the TLS gateway exits 0 on SIGTERM")


def run(t: harness.Case) -> None:
    up = t.upstream("echo", ["203.0.113.10:7", "203.0.113.99:7"])
    # keep: B denies the long connection's destination; this case is about what new connections
    # get (live connections re-decided by a reload: e2e.live_redecide).
    gw = t.egressd(POLICY_A, {"policy": {"on_change": "keep"}})

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
    t.check_eq(gw.terminate(), 0, "egressd exits 0 on SIGTERM")

    reload_during_handshake(t)


harness.main(run)
