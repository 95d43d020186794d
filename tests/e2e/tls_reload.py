#!/usr/bin/env python3
"""TLS material at start-up and on SIGHUP.

Start-up: a key readable by others, a key that does not match the certificate and a CRL from
another CA are fatal: `egressd --check-config` and `egressd` both exit 1 naming
`listeners[0].tls.<key>`. Running: copying ca-revokes-payments.crl over the configured CRL and
sending SIGHUP revokes the payments certificate for new connections (cert_verify_failed,
"certificate revoked"; a session saved before the swap is not resumed), while a connection opened
before the swap keeps working and other identities are unaffected. A CRL that fails to load keeps
the running material (the log says why); restoring ca.crl and SIGHUP admits payments again.
"""

import os
import shutil
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import gateway  # noqa: E402
import harness  # noqa: E402
import tls_pki  # noqa: E402

POLICY = """\
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
to: [{cidrs: [203.0.113.20/32], ports: [8443, 8444]}]
"""
ECHO = "203.0.113.20:8443"
HTTP = "203.0.113.20:8444"


def run(t: harness.Case) -> None:
    for tool in ("openssl", "socat"):
        t.require(shutil.which(tool) is not None, f"{tool} installed (make deps)")
    pki = tls_pki.make_pki(t.sb, t.args.source_dir)

    # --- start-up with unusable material --------------------------------------------------------
    loose = t.sb.dir / "loose.key"
    shutil.copy(pki / "gateway.key", loose)
    os.chmod(loose, 0o644)
    bad = {
        "key readable by others": ({"key": str(loose)}, "listeners[0].tls.key: "),
        "key of another certificate": ({"key": str(pki / "payments.key")}, "listeners[0].tls.key: "),
        "CRL from another CA": ({"crl": str(pki / "unrelated.crl")}, "listeners[0].tls.crl: "),
    }
    for what, (override, want) in bad.items():
        lst = tls_pki.tls_listener(pki)
        lst["tls"].update(override)
        cfg_path, *_ = gateway.write_config(t.sb, {"p.yaml": POLICY}, {"listeners": [lst]},
                                            name=f"bad-{len(want)}-{abs(hash(what)) % 1000}")
        for argv, label in (([t.args.egressd, "--check-config", "--config", str(cfg_path)], "--check-config"),
                            ([t.args.egressd, "--config", str(cfg_path)], "start-up")):
            p = t.sb.exec(t.sb.gateway, argv, check=False, timeout=20)
            t.check(p.returncode == 1 and want in p.stderr, f"{what}: {label} fails naming {want.strip()}",
                    f"exit {p.returncode}: {p.stderr.strip()[-400:]}")
    lst = tls_pki.tls_listener(pki)
    cfg_path, *_ = gateway.write_config(t.sb, {"p.yaml": POLICY}, {"listeners": [lst]}, name="good-check")
    p = t.sb.exec(t.sb.gateway, [t.args.egressd, "--check-config", "--config", str(cfg_path)], check=False)
    t.check_eq(p.returncode, 0, "good material: --check-config exits 0", p.stderr[-400:])

    # --- running: CRL swap on SIGHUP ---------------------------------------------------------------
    crl = t.sb.dir / "crl.pem"
    shutil.copy(pki / "ca.crl", crl)
    lst = tls_pki.tls_listener(pki)
    lst["tls"]["crl"] = str(crl)
    echo = t.upstream("echo", [ECHO])
    t.upstream("http", [HTTP])
    gw = t.egressd(POLICY, {"listeners": [lst]})

    p = tls_pki.socat(t.sb, pki, ECHO, "payments", "before\n")
    t.check_eq(p.stdout, "before\n", "payments allowed before the swap", p.stderr[-300:])
    sess = t.sb.dir / "payments.sess"
    p = tls_pki.s_client(t.sb, pki, HTTP, "payments", "GET / HTTP/1.0\r\n\r\n",
                         ["-ign_eof", "-sess_out", str(sess)])
    t.check("HTTP/1.1 200 OK" in p.stdout and sess.exists(), "payments session saved before the swap",
            p.stderr[-300:])

    # A connection opened before the swap: sends a line every 0.2s for 3s through socat.
    script = "for i in $(seq 15); do echo tick-$i; sleep 0.2; done"
    addr = (f"OPENSSL:{ECHO},cafile={pki / 'ca.pem'},verify=1,commonname=egressd.local,"
            f"cert={pki / 'payments.pem'},key={pki / 'payments.key'}")
    long = t.sb.spawn(t.sb.client, "long-socat", ["socat", "-t", "5", f"SYSTEM:{script}", addr])
    time.sleep(0.6)

    shutil.copy(pki / "ca-revokes-payments.crl", crl)
    gw.reload()
    deadline = time.monotonic() + 5
    while True:
        before = len(audit.matching(gw.records(), event="connection.decision"))
        p = tls_pki.s_client(t.sb, pki, ECHO, "payments", "x\n")
        recs = audit.matching(gw.records(), event="connection.decision")
        recs = recs[before:] or gw.wait_records(timeout=3, count=before + 1, event="connection.decision")[before:]
        if (recs and recs[-1].get("reason") == "cert_verify_failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    t.check(recs and recs[-1].get("decision") == "deny" and recs[-1].get("reason") == "cert_verify_failed"
            and recs[-1].get("detail") == "certificate revoked",
            "after SIGHUP with the new CRL: payments denied, cert_verify_failed 'certificate revoked'",
            audit.pretty(recs[-1]) if recs else "no record")
    t.check("keeping the running TLS material" not in gw.stderr(),
            "the CRL swap reloads without an error", gw.stderr()[-500:])
    p = tls_pki.s_client(t.sb, pki, HTTP, "payments", "GET / HTTP/1.0\r\n\r\n",
                         ["-ign_eof", "-sess_in", str(sess)])
    t.check("Reused" not in p.stdout, "the session from before the swap is not resumed", p.stdout[-300:])
    t.check("HTTP/1.1 200" not in p.stdout, "…and the revoked client gets no response", p.stdout[-300:])

    t.check_eq(long.wait(timeout=15), 0, "the socat connection opened before the swap exits 0",
               long.stderr_text()[-300:])
    ticks = sum(len(f"tick-{i}\n") for i in range(1, 16))
    close = [c for c in echo.wait_closes(2) if c["bytes_in"] > 50]
    t.check(bool(close) and close[-1]["bytes_in"] == ticks == close[-1]["bytes_out"],
            "the echo server got (and echoed) every tick of the connection opened before the swap",
            str(close[-1:]))
    t.check_record(gw, "its close record: every tick both ways, eof", event="connection.close",
                   bytes_up=ticks, bytes_down=ticks, reason="eof")

    # --- a CRL that does not load: the running material stays --------------------------------
    crl.write_text("-----BEGIN X509 CRL-----\nnot base64 at all\n-----END X509 CRL-----\n")
    gw.reload()
    deadline = time.monotonic() + 5
    while "keeping the running TLS material" not in gw.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    err = [line for line in gw.stderr().splitlines() if "keeping the running TLS material" in line]
    t.check(bool(err) and f"listeners[0].tls.crl: {crl}" in err[-1],
            "a broken CRL on SIGHUP: the log names listeners[0].tls.crl and the file", "\n".join(err[-2:]))
    t.check(gw.proc.running(), "egressd keeps running after a failed TLS reload")
    before = len(audit.matching(gw.records(), event="connection.decision"))
    tls_pki.s_client(t.sb, pki, ECHO, "payments", "x\n")
    recs = gw.wait_records(timeout=5, count=before + 1, event="connection.decision")[before:]
    t.check(bool(recs) and recs[-1].get("detail") == "certificate revoked",
            "after the failed reload the running CRL still revokes payments", str(recs[-1:]))

    # --- restore --------------------------------------------------------------------------------
    shutil.copy(pki / "ca.crl", crl)
    gw.reload()
    deadline = time.monotonic() + 5
    while True:
        p = tls_pki.socat(t.sb, pki, ECHO, "payments", "after\n")
        if p.stdout == "after\n" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    t.check_eq(p.stdout, "after\n", "ca.crl restored + SIGHUP: payments allowed again", p.stderr[-300:])
    t.check_eq(gw.terminate(), 0, "egressd exits 0 on SIGTERM")


harness.main(run)
