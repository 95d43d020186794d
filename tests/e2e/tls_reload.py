#!/usr/bin/env python3
"""TLS material at start-up and on SIGHUP.

Start-up: a key readable by others, a key that does not match the certificate and a CRL from
another CA are fatal: `egressd --check-config` and `egressd` both exit 1 naming
`listeners[0].tls.<key>`. Running: copying ca-revokes-payments.crl over the configured CRL and
sending SIGHUP revokes the payments certificate for new connections (cert_verify_failed,
"certificate revoked"; a session saved before the swap is not resumed), while a connection another
identity (analytics) opened before the swap keeps working (a live connection of the revoked
certificate is closed: e2e.live_revoke). A CRL that fails to load keeps
the running material (the log says why); restoring ca.crl and SIGHUP admits payments again.

Every reload writes ONE policy.reload record whose result is ok only when every part (policy,
tls, crl) succeeded, with a `parts` object saying what each did; /policy shows the same (issue
17, item 2). A truncated and an expired CRL that would revoke payments: result failed, the crl part
failed and named, the tls part skipped, and the running CRL stays in force (payments still
admitted). A good policy change together with a bad CRL: the policy is applied (its part ok, new
version), the CRL is not. A server certificate rotated without its key: the tls part failed, the
old certificate still served. A CRL whose nextUpdate passes while it runs: /readyz answers 503
naming it (handshakes already fail closed), and a current CRL + SIGHUP makes it ready again.
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import gateway  # noqa: E402
import harness  # noqa: E402
import observe  # noqa: E402
import tls_pki  # noqa: E402

POLICY = """\
kind: Settings
default: deny
mode: enforce
---
kind: Role
name: clients
members:
  - identity: "spiffe://corp.example/ns/payments/sa/*"
  - identity: "spiffe://corp.example/ns/analytics/sa/*"
---
kind: Rule
id: payments-to-card-networks
action: allow
from: [{role: clients}]
to: [{cidrs: [203.0.113.20/32], ports: [8443, 8444]}]
"""
ECHO = "203.0.113.20:8443"
HTTP = "203.0.113.20:8444"


def sighup(t: harness.Case, gw) -> dict:
    """SIGHUP and the policy.reload record it wrote (one per reload)."""
    before = len(audit.matching(gw.records(), event="policy.reload"))
    gw.reload()
    recs = gw.wait_records(timeout=10, count=before + 1, event="policy.reload")
    t.require(len(recs) == before + 1, "SIGHUP writes exactly one policy.reload record",
              str([audit.pretty(r) for r in recs[before:]]))
    return recs[-1]


def parts(rec: dict) -> dict:
    return {k: v.get("result") for k, v in rec.get("parts", {}).items()}


def check_reload(t: harness.Case, rec: dict, what: str, result: str, want_parts: dict,
                 error_part: str | None = None, error_text: str = "") -> None:
    """The record's result and per-part results; the failed part names listeners[0].tls.<key>
    and says why, in the part and in the top-level errors."""
    t.check_eq((rec.get("result"), parts(rec)), (result, want_parts), f"{what}: policy.reload result and parts",
               audit.pretty(rec))
    if error_part:
        errs = rec.get("parts", {}).get(error_part, {}).get("errors", [])
        t.check(bool(errs) and error_text in errs[0] and errs[0] in rec.get("errors", []),
                f"{what}: the {error_part} part's error names it ({error_text!r}), also in errors", str(errs))
    else:
        t.check_eq(rec.get("errors"), [], f"{what}: no errors")
    pol = observe.admin_get(t.sb, "/policy")
    last = json.loads(pol["body"]).get("last_reload", {}) if pol["status"] == 200 else {}
    t.check_eq((last.get("result"), {k: v.get("result") for k, v in last.get("parts", {}).items()}),
               (result, want_parts), f"{what}: /policy last_reload says the same", pol["body"][-600:])


def crl_with(pki, state: str, out, last: datetime.datetime, nxt: datetime.datetime) -> None:
    """A CRL of the intermediate CA database `state` (e.g. intermediate-swap: revokes payments)
    with the given lastUpdate and nextUpdate, followed by the root's CRL (CRL_CHECK_ALL)."""
    cnf = pki / ".ca-state" / state / "ca.cnf"
    fmt = "%Y%m%d%H%M%SZ"
    tmp = out.with_suffix(".part")
    subprocess.run(["openssl", "ca", "-batch", "-config", str(cnf), "-gencrl", "-out", str(tmp),
                    "-crl_lastupdate", last.strftime(fmt), "-crl_nextupdate", nxt.strftime(fmt)],
                   check=True, capture_output=True, timeout=30)
    out.write_text(tmp.read_text() + (pki / ".ca-state" / "root.crl").read_text())


def admitted(t: harness.Case, pki, who: str = "payments") -> bool:
    p = tls_pki.socat(t.sb, pki, ECHO, who, "still-in\n")
    return p.stdout == "still-in\n"


def served_cert(t: harness.Case, pki) -> str:
    """The PEM of the certificate the gateway serves."""
    p = tls_pki.s_client(t.sb, pki, ECHO, "payments", "", ["-showcerts"])
    text = p.stdout
    start = text.find("-----BEGIN CERTIFICATE-----")
    end = text.find("-----END CERTIFICATE-----", start)
    return text[start:end + len("-----END CERTIFICATE-----")] if start >= 0 and end >= 0 else ""


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
    server_pem = t.sb.dir / "server.pem"  # a copy, so the case can rotate it
    shutil.copy(pki / "gateway.pem", server_pem)
    lst = tls_pki.tls_listener(pki)
    lst["tls"]["crl"] = str(crl)
    lst["tls"]["cert"] = str(server_pem)
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

    # A connection of an identity the new CRL does not revoke, opened before the swap: sends a
    # line every 0.2s for 3s through socat.
    script = "for i in $(seq 15); do echo tick-$i; sleep 0.2; done"
    addr = (f"OPENSSL:{ECHO},cafile={pki / 'ca.pem'},verify=1,commonname=egressd.local,"
            f"cert={pki / 'analytics.pem'},key={pki / 'analytics.key'}")
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
    rec = sighup(t, gw)
    check_reload(t, rec, "a broken CRL", "failed", {"policy": "ok", "tls": "skipped", "crl": "failed"},
                 "crl", f"listeners[0].tls.crl: {crl}: invalid PEM CRL")
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
    rec = audit.matching(gw.records(), event="policy.reload")[-1]
    check_reload(t, rec, "ca.crl restored", "ok", {"policy": "ok", "tls": "ok", "crl": "ok"})

    # --- bad CRLs that would revoke payments: refused, the running CRL stays in force ------------
    whole = (pki / "ca-revokes-payments.crl").read_text()
    crl.write_text(whole[: len(whole) // 2])
    rec = sighup(t, gw)
    check_reload(t, rec, "a truncated CRL", "failed", {"policy": "ok", "tls": "skipped", "crl": "failed"},
                 "crl", f"listeners[0].tls.crl: {crl}: ")
    t.check(admitted(t, pki), "after the truncated CRL: payments (revoked in it) still admitted: ca.crl runs")
    t.check(not admitted(t, pki, "revoked"), "…and revoked.pem (revoked in ca.crl) still refused")

    now = datetime.datetime.now(datetime.timezone.utc)
    v_before = rec.get("version")
    gw.write_policy({"p.yaml": POLICY + "description: \"changed with a bad CRL\"\n"})
    crl_with(pki, "intermediate-swap", crl, now - datetime.timedelta(days=2), now - datetime.timedelta(days=1))
    rec = sighup(t, gw)
    check_reload(t, rec, "a good policy change + an expired CRL", "failed",
                 {"policy": "ok", "tls": "skipped", "crl": "failed"}, "crl", "out of date")
    pol = rec.get("parts", {}).get("policy", {})
    t.check(pol.get("version") and pol.get("version") != v_before and pol.get("version") == rec.get("version"),
            "…the policy part is applied: a new version, also the record's version", audit.pretty(rec))
    t.check(admitted(t, pki), "after the expired CRL: payments (revoked in it) still admitted: ca.crl runs")
    m, _, _ = observe.scrape(t.sb)
    t.check_eq(observe.value(m, "egressd_reload_failures_total", part="crl"), 3,
               "egressd_reload_failures_total{part=crl} counts the three bad CRLs")
    t.check_eq(observe.value(m, "egressd_reload_failures_total", part="policy"), 0,
               "egressd_reload_failures_total{part=policy} stays 0")

    # --- a server certificate rotated without its key: the old certificate is still served -------
    shutil.copy(pki / "ca.crl", crl)
    original = served_cert(t, pki)
    leaf = (pki / "gateway.pem").read_text()
    leaf = leaf[:leaf.find("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    t.check_eq(original.strip(), leaf.strip(), "the gateway serves gateway.pem's leaf")
    shutil.copy(pki / "analytics.pem", server_pem)
    rec = sighup(t, gw)
    check_reload(t, rec, "a certificate without its key", "failed",
                 {"policy": "ok", "tls": "failed", "crl": "skipped"}, "tls",
                 f"listeners[0].tls.key: {lst['tls']['key']}: private key does not match the certificate")
    t.check(bool(original) and served_cert(t, pki) == original,
            "…the old server certificate is still served", served_cert(t, pki)[:200])
    t.check(admitted(t, pki), "…and clients still get through")
    m, _, _ = observe.scrape(t.sb)
    t.check_eq(observe.value(m, "egressd_reload_failures_total", part="tls"), 1,
               "egressd_reload_failures_total{part=tls} = 1")
    shutil.copy(pki / "gateway.pem", server_pem)
    rec = sighup(t, gw)
    check_reload(t, rec, "the certificate put back", "ok", {"policy": "ok", "tls": "ok", "crl": "ok"})

    # --- a CRL whose nextUpdate passes while it runs: /readyz says so ----------------------------
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    nxt = now + datetime.timedelta(seconds=8)
    crl_with(pki, "intermediate", crl, now - datetime.timedelta(hours=1), nxt)
    rec = sighup(t, gw)
    check_reload(t, rec, "a CRL current for 8 more seconds", "ok", {"policy": "ok", "tls": "ok", "crl": "ok"})
    want_next = nxt.strftime("%Y-%m-%dT%H:%M:%SZ")
    t.check_eq(rec.get("parts", {}).get("crl", {}).get("next_update"), want_next,
               "the record's crl part carries the running CRL's nextUpdate")
    t.check_eq(observe.admin_get(t.sb, "/readyz")["status"], 200, "/readyz 200 while the CRL is current")
    m, _, _ = observe.scrape(t.sb)
    t.check_eq(observe.value(m, "egressd_tls_crl_next_update_timestamp_seconds"), nxt.timestamp(),
               "egressd_tls_crl_next_update_timestamp_seconds is the nextUpdate")
    time.sleep(max(0.0, nxt.timestamp() - time.time()) + 1.2)
    r = observe.wait_readyz(t.sb, 503, timeout=5)
    t.check(r["status"] == 503 and "listeners[0].tls.crl" in r["body"] and "past its nextUpdate" in r["body"]
            and want_next in r["body"], "/readyz 503 naming the CRL past its nextUpdate", str(r))
    before = len(audit.matching(gw.records(), event="connection.decision"))
    tls_pki.s_client(t.sb, pki, ECHO, "payments", "x\n")
    recs = gw.wait_records(timeout=5, count=before + 1, event="connection.decision")[before:]
    t.check(bool(recs) and recs[-1].get("reason") == "cert_verify_failed",
            "…and handshakes fail closed meanwhile (cert_verify_failed)", str(recs[-1:]))
    shutil.copy(pki / "ca.crl", crl)
    rec = sighup(t, gw)
    check_reload(t, rec, "a current CRL again", "ok", {"policy": "ok", "tls": "ok", "crl": "ok"})
    t.check_eq(observe.wait_readyz(t.sb, 200, timeout=5)["status"], 200, "/readyz 200 again after the SIGHUP")
    observe.check_schema(t, gw.records(), "every record, policy.reload parts included")
    t.check_eq(gw.terminate(), 0, "egressd exits 0 on SIGTERM")


harness.main(run)
