#!/usr/bin/env python3
"""A reloaded CRL and a rule's `expires` close the live connections they end (issue 21, item 3).

Revoked certificate: an mTLS listener runs ca.crl. Two long mTLS connections to the echo server
tick every 0.2 s, one presenting payments.pem, one analytics.pem. ca-revokes-payments.crl is
copied over the configured CRL and egressd gets SIGHUP:

* the payments connection is reset within one second: socat fails, the echo server saw fewer
  bytes than were to be sent, and the close record says `reason: cert_revoked`, `closed_by:
  gateway`, a detail naming the certificate's serial and issuer (as its decision record's
  `identity` has them);
* the analytics connection keeps every byte flowing to its normal end;
* the reload record counts the certificates checked and revoked (`parts.crl.checked`: 2,
  `parts.crl.revoked`: 1);
* `policy.on_change: keep` does not spare the revoked certificate (a second gateway, same swap).

Revoked while its upstream connect runs: a payments connection to 203.0.113.66:8443, whose SYNs
are dropped in the internet namespace until the reload swapping in ca-revokes-payments.crl is
recorded, is skipped by the reload's pass (`parts.crl.checked`: 0) and checked against the running
CRLs when its relay starts, under `policy.on_change: keep`: reset (socat fails), `cert_revoked` by
the gateway with the serial and issuer, 0 bytes up, and no byte it sent reaches the upstream.

Expiring rule: rule `temporary` allows 203.0.113.10:7 until a few seconds after egressd starts,
rule `standing` allows 203.0.113.20:7 for good. One long connection to each, no reload: at the
`expires` instant the connection to .10 is reset (the client sees a reset; its close record says
`reason: rule_expired`, `rule: temporary`, `closed_by: gateway`, within one second of the
instant), while the one to .20 keeps every byte flowing to its normal end (eof).
"""

import datetime
import os
import shutil
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
import tls_pki  # noqa: E402

TLS_POLICY = """\
kind: Settings
default: deny
---
kind: Role
name: workloads
members:
  - identity: "spiffe://corp.example/ns/payments/sa/*"
  - identity: "spiffe://corp.example/ns/analytics/sa/*"
---
kind: Rule
id: workloads-to-echo
action: allow
from: [{role: workloads}]
to: [{cidrs: [203.0.113.20/32], ports: [8443]}]
"""
ECHO_TLS = "203.0.113.20:8443"
TICKS = 40  # 0.2 s apart: 8 s, well past the reload


def ts(rec: dict) -> float:
    return datetime.datetime.fromisoformat(rec["ts"].replace("Z", "+00:00")).timestamp()


def tls_ticking(t: harness.Case, pki, name: str, cert: str):
    """socat presenting `cert`, sending one line every 0.2 s for TICKS lines."""
    script = f"for i in $(seq {TICKS}); do echo tick-$i; sleep 0.2; done"
    addr = (f"OPENSSL:{ECHO_TLS},cafile={pki / 'ca.pem'},verify=1,commonname=egressd.local,"
            f"cert={pki / (cert + '.pem')},key={pki / (cert + '.key')}")
    return t.sb.spawn(t.sb.client, name, ["socat", "-t", "5", f"SYSTEM:{script}", addr])


def revoked_certificate(t: harness.Case, pki, echo, on_change: str) -> None:
    what = f"[on_change: {on_change}]"
    crl = t.sb.dir / f"crl-{on_change}.pem"
    shutil.copy(pki / "ca.crl", crl)
    lst = tls_pki.tls_listener(pki)
    lst["tls"]["crl"] = str(crl)
    closed_before = len(echo.closes())
    gw = t.egressd(TLS_POLICY, {"listeners": [lst], "policy": {"on_change": on_change}},
                   name=f"egressd-crl-{on_change}")
    payments = tls_ticking(t, pki, f"payments-{on_change}", "payments")
    analytics = tls_ticking(t, pki, f"analytics-{on_change}", "analytics")
    allowed = gw.wait_records(timeout=10, count=2, event="connection.decision", decision="allow")
    t.require(len(allowed) == 2, f"{what} payments and analytics are allowed over mTLS",
              "\n      ".join(audit.pretty(r) for r in gw.records()))
    identity = next((r.get("identity", {}) for r in allowed
                     if "payments" in r.get("identity", {}).get("spiffe_id", "")), {})
    time.sleep(0.6)  # both relaying, ticks flowing

    shutil.copy(pki / "ca-revokes-payments.crl", crl)
    hup = time.time()
    gw.reload()
    reloads = gw.wait_records(timeout=10, count=1, event="policy.reload")
    t.require(len(reloads) == 1, f"{what} the CRL reload is recorded", str(reloads))
    part = reloads[0].get("parts", {}).get("crl", {})
    t.check_eq((reloads[0].get("result"), part.get("result"), part.get("checked"), part.get("revoked")),
               ("ok", "ok", 2, 1), f"{what} the reload record: crl ok, 2 certificates checked, 1 revoked",
               audit.pretty(reloads[0]))

    closes = gw.wait_records(timeout=5, event="connection.close", reason="cert_revoked")
    c = closes[0] if closes else {}
    t.check_eq((c.get("reason"), c.get("closed_by"), "rule" in c), ("cert_revoked", "gateway", False),
               f"{what} the payments connection: cert_revoked by the gateway", audit.pretty(c) if c else "none")
    t.check(bool(identity.get("serial")) and f"serial {identity.get('serial')} of issuer \"{identity.get('issuer')}\""
            in c.get("detail", ""), f"{what} ... its detail names the certificate's serial and issuer",
            f"{c.get('detail')!r} vs {identity}")
    if c:
        t.check(ts(c) - hup < 1.0, f"{what} ... closed within one second of the SIGHUP", f"{ts(c) - hup:.3f} s")
    rc = payments.wait(timeout=20)
    t.check(rc != 0, f"{what} the payments client (socat) fails: its connection was reset",
            f"exit {rc}: {payments.stderr_text()[-300:]}")

    t.check_eq(analytics.wait(timeout=20), 0, f"{what} the analytics connection runs to its normal end",
               analytics.stderr_text()[-300:])
    ticks = sum(len(f"tick-{i}\n") for i in range(1, TICKS + 1))
    ends = echo.wait_closes(closed_before + 2)[closed_before:]
    t.check_eq(sorted(e["bytes_in"] for e in ends)[-1:], [ticks],
               f"{what} ... the echo server got every tick of the analytics connection", str(ends))
    t.check(len(ends) == 2 and min(e["bytes_in"] for e in ends) < ticks,
            f"{what} ... and fewer of the revoked one's", str(ends))
    t.check_eq(gw.terminate(), 0, f"{what} egressd exits 0 on SIGTERM")


def expiring_rule(t: harness.Case) -> None:
    expires = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=6)
    at = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    policy = f"""\
kind: Settings
default: deny
---
kind: Rule
id: temporary
action: allow
expires: {at}
from: [{{source: 192.0.2.0/24}}]
to: [{{cidrs: [203.0.113.10/32], ports: [7]}}]
---
kind: Rule
id: standing
action: allow
from: [{{source: 192.0.2.0/24}}]
to: [{{cidrs: [203.0.113.20/32], ports: [7]}}]
"""
    t.upstream("echo", ["203.0.113.10:7", "203.0.113.20:7"], name="echo-expiry")
    gw = t.egressd(policy, name="egressd-expiry")
    ticks = 60  # 12 s: past the instant
    args = ("--send", "tick\n", "--repeat", str(ticks), "--interval", "0.2", "--shutdown", "--timeout", "30")
    ten = t.client_bg("temporary", "--dst", "203.0.113.10:7", *args)
    twenty = t.client_bg("standing", "--dst", "203.0.113.20:7", *args)
    allowed = gw.wait_records(timeout=5, count=2, event="connection.decision", decision="allow")
    t.require(len(allowed) == 2 and time.time() < expires.timestamp(),
              "both connections are allowed before the rule expires",
              "\n      ".join(audit.pretty(r) for r in gw.records()))

    closes = gw.wait_records(timeout=15, event="connection.close", dst="203.0.113.10:7")
    c = closes[0] if closes else {}
    t.check_eq((c.get("reason"), c.get("closed_by"), c.get("rule")), ("rule_expired", "gateway", "temporary"),
               "the connection to .10: rule_expired by the gateway, rule temporary", audit.pretty(c) if c else "none")
    t.check(f"rule 'temporary' expired at {at}" in c.get("detail", "") and "now denied by default" in c.get("detail", ""),
            "... its detail names the rule, the instant and what denies it now", c.get("detail", ""))
    if c:
        late = ts(c) - expires.timestamp()
        t.check(-0.05 <= late < 1.0, "... closed at the instant (within one second, not before)", f"{late:.3f} s")
    t.check(not audit.matching(gw.records(), event="policy.reload"), "... without any reload")
    r = t.client_result(ten, timeout=30)
    t.check(r["end"] == "reset" or "ConnectionResetError" in (r.get("send_error") or ""),
            "the client to .10 sees a reset", str({k: r.get(k) for k in ("end", "send_error")}))
    t.check(0 < r["recv_len"] < len("tick\n") * ticks, "... after the ticks echoed before it", f"{r['recv_len']} bytes")
    r = t.client_result(twenty, timeout=30)
    t.check_eq((r["recv"], r["end"]), ("tick\n" * ticks, "eof"),
               "the connection to .20 (a rule without expires) keeps every byte flowing to its normal end")
    c20 = gw.wait_records(timeout=5, event="connection.close", dst="203.0.113.20:7")
    t.check(bool(c20) and c20[0].get("reason") == "eof", "... and its close record says eof",
            audit.pretty(c20[0]) if c20 else "none")
    t.check_eq(gw.terminate(), 0, "egressd exits 0 on SIGTERM")


PENDING_TLS = "203.0.113.66:8443"
PENDING_POLICY = TLS_POLICY.replace("203.0.113.20/32", "203.0.113.66/32")
SYN_DROP = ["INPUT", "-d", "203.0.113.66", "-p", "tcp", "--dport", "8443", "--syn", "-j", "DROP"]


def syns_dropped(t: harness.Case) -> int:
    out = t.sb.exec(t.sb.internet, ["iptables", "-w", "-nvxL", "INPUT"]).stdout
    return sum(int(line.split()[0]) for line in out.splitlines() if "DROP" in line and "203.0.113.66" in line)


def revoked_while_connecting(t: harness.Case, pki) -> None:
    """The payments connection's upstream connect is under way (its SYNs to .66 dropped) when the
    CRL revoking its certificate is loaded: the reload's pass skips it (not relaying yet, `checked:
    0`); its certificate is checked against the running CRLs when its relay starts, whatever
    policy.on_change says (`keep` here): reset, cert_revoked, nothing upstream."""
    what = "[CRL reloaded while the upstream connect runs]"
    echo = t.upstream("echo", [PENDING_TLS], name="echo-tls-66")
    crl = t.sb.dir / "crl-pending.pem"
    shutil.copy(pki / "ca.crl", crl)
    lst = tls_pki.tls_listener(pki)
    lst["tls"]["crl"] = str(crl)
    gw = t.egressd(PENDING_POLICY, {"listeners": [lst], "policy": {"on_change": "keep"},
                                    "upstream": {"connect_timeout": "6s"}}, name="egressd-crl-pending")
    t.sb.exec(t.sb.internet, ["iptables", "-w", "-A", *SYN_DROP])
    try:
        # The payload goes out right after the handshake, while egressd connects upstream.
        addr = (f"OPENSSL:{PENDING_TLS},cafile={pki / 'ca.pem'},verify=1,commonname=egressd.local,"
                f"cert={pki / 'payments.pem'},key={pki / 'payments.key'}")
        client = t.sb.spawn(t.sb.client, "payments-pending",
                            ["socat", "-t", "5", "SYSTEM:echo sent-while-connecting; sleep 3", addr])
        dec = gw.wait_records(timeout=10, event="connection.decision", decision="allow")
        t.require(bool(dec), f"{what} the payments connection is allowed over mTLS",
                  "\n      ".join(audit.pretty(r) for r in gw.records()))
        deadline = time.monotonic() + 3
        while syns_dropped(t) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        t.require(syns_dropped(t) >= 1, f"{what} its upstream connect is under way (its SYN dropped)")
        shutil.copy(pki / "ca-revokes-payments.crl", crl)
        gw.reload()
        reloads = gw.wait_records(timeout=10, count=1, event="policy.reload")
        t.require(len(reloads) == 1, f"{what} the CRL reload is recorded", str(reloads))
        t.require(not echo.events(), f"{what} the upstream has not accepted it before the reload",
                  str(echo.events()))
    finally:
        t.sb.exec(t.sb.internet, ["iptables", "-w", "-D", *SYN_DROP])
    part = reloads[0].get("parts", {}).get("crl", {})
    t.check_eq((reloads[0].get("result"), part.get("result"), part.get("checked"), part.get("revoked")),
               ("ok", "ok", 0, 0), f"{what} the reload's pass skipped it (not relaying yet): 0 checked, 0 revoked",
               audit.pretty(reloads[0]))
    closes = gw.wait_records(timeout=8, event="connection.close")
    c = closes[0] if closes else {}
    t.check_eq((c.get("conn_id"), c.get("reason"), c.get("closed_by"), audit.bytes_up(c)),
               (dec[0].get("conn_id"), "cert_revoked", "gateway", 0),
               f"{what} checked when its relay starts: cert_revoked by the gateway, 0 bytes up",
               audit.pretty(c) if c else "none")
    identity = dec[0].get("identity", {})
    t.check(bool(identity.get("serial")) and f"serial {identity.get('serial')} of issuer \"{identity.get('issuer')}\""
            in c.get("detail", ""), f"{what} ... its detail names the certificate's serial and issuer",
            f"{c.get('detail')!r} vs {identity}")
    rc = client.wait(timeout=20)
    t.check(rc != 0, f"{what} the payments client (socat) fails: its connection was reset",
            f"exit {rc}: {client.stderr_text()[-300:]}")
    echo.wait_closes(len(echo.accepts()))
    t.check(all(e["bytes_in"] == 0 for e in echo.closes()) and len(echo.closes()) == len(echo.accepts()),
            f"{what} no payload byte reached the upstream", str(echo.events()))
    t.check_eq(gw.terminate(), 0, f"{what} egressd exits 0 on SIGTERM")


def run(t: harness.Case) -> None:
    for tool in ("openssl", "socat"):
        t.require(shutil.which(tool) is not None, f"{tool} installed (make deps)")
    expiring_rule(t)
    pki = tls_pki.make_pki(t.sb, t.args.source_dir)
    echo = t.upstream("echo", [ECHO_TLS], name="echo-tls")
    revoked_certificate(t, pki, echo, "reevaluate")
    revoked_certificate(t, pki, echo, "keep")
    revoked_while_connecting(t, pki)


harness.main(run)
