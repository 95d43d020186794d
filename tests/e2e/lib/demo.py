#!/usr/bin/env python3
"""`make demo`: egressd in the network-namespace sandbox with the repository's config/ and policy/.

    demo.py BUILD_DIR [--source-dir DIR]

Brings up the three namespaces (lib/sandbox.py), starts HTTP servers at 203.0.113.10, .66 and .99,
starts BUILD_DIR/egressd with config/egressd.yaml (paths adapted to a temp dir) and policy/, runs
three curl clients from 192.0.2.2 (one allowed, one denied by rule, one denied by default), prints
what each saw, what each server saw and the audit records they produced, and tears everything down.

Then names (issue 19): a dnsmasq at 203.0.113.53 says registry.build.example is 203.0.113.70,
where an `openssl s_server` serves TLS; rule ci-runners-to-build-registries allows that name on
443. curl connects to the name at its address (allowed: the SNI is verified against egressd's own
DNS answer), then sends the same SNI to 203.0.113.99 (`--resolve`, a spoofed SNI: denied
name_mismatch, and no SYN reaches 203.0.113.99).

Then two workloads with mTLS identities (dev certificates from certs/make-dev-certs.sh, made in
the temp dir): the demo adds a listener "egress-mtls" (tls.mode required) on port 15443 and, in the
gateway namespace, a REDIRECT of port 8443 to it ahead of the catch-all one; curl presents the
payments certificate (allowed by rule payments-to-card-networks) and the analytics certificate
(denied by default) to https://203.0.113.20:8443/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import yaml

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

import audit  # noqa: E402
import dns  # noqa: E402
import gateway  # noqa: E402
import tls_pki  # noqa: E402
from sandbox import IF_GW_CLIENT, REDIRECT_PORT, Sandbox  # noqa: E402

# (label, destination, expected decision, reason, rule): the sandbox contract's demo decisions.
CLIENTS = [
    ("allowed", "203.0.113.10", "allow", "rule", "ci-runners-to-package-mirrors"),
    ("denied by rule", "203.0.113.66", "deny", "rule", "deny-blocklist"),
    ("denied by default", "203.0.113.99", "deny", "default", ""),
]

# The names part: (label, address curl dials, decision, reason, rule, name_verified).
REGISTRY, REGISTRY_V4 = "registry.build.example", "203.0.113.70"
NAME_CLIENTS = [
    ("the name at its address", REGISTRY_V4, "allow", "rule", "ci-runners-to-build-registries", "match"),
    ("the same SNI sent to another address (spoofed)", "203.0.113.99", "deny", "name_mismatch", "",
     "mismatch"),
]

# The mTLS part: (label, certificate, expected decision, reason, rule, SPIFFE ID).
TLS_PORT = 15443
TLS_DST = "203.0.113.20:8443"
TLS_CLIENTS = [
    ("payments workload", "payments", "allow", "rule", "payments-to-card-networks",
     "spiffe://corp.example/ns/payments/sa/api"),
    ("analytics workload", "analytics", "deny", "default", "",
     "spiffe://corp.example/ns/analytics/sa/etl"),
]

TTY = sys.stdout.isatty()


def c(code: str, text: str) -> str:
    return f"\033[{code}m{text}\033[0m" if TTY else text


def bold(text: str) -> str:
    return c("1", text)


def demo_config(source_dir: Path, pki: Path | None = None) -> dict:
    """config/egressd.yaml with its paths made absolute / pointed at the demo's temp dir, plus the
    mTLS listener when `pki` is given."""
    path = source_dir / "config" / "egressd.yaml"
    cfg = yaml.safe_load(path.read_text()) if path.exists() else {}
    cfg = cfg or {}
    # The sandbox redirects to REDIRECT_PORT; keep the file's listener if it is that one.
    listeners = cfg.get("listeners") or []
    fits = [lst for lst in listeners if str(lst.get("address", "")).endswith(f":{REDIRECT_PORT}")
            and lst.get("destination", "original_dst") == "original_dst"]
    if not fits:
        cfg["listeners"] = [{"name": "egress", "address": f"[::]:{REDIRECT_PORT}",
                             "destination": "original_dst"}]
    if pki is not None:
        cfg["listeners"] = list(cfg["listeners"]) + [
            tls_pki.tls_listener(pki, name="egress-mtls", address=f"0.0.0.0:{TLS_PORT}")]
    # The name step asks the sandbox's DNS server (lib/dns.py), not the host's resolv.conf.
    cfg["dns"] = {**(cfg.get("dns") or {}), "servers": [f"{dns.DNS_V4}:{dns.DNS_PORT}"]}
    cfg.setdefault("policy", {})
    cfg.setdefault("audit", {})
    cfg["audit"]["path"] = "audit.jsonl"  # replaced by gateway.write_config with a temp path
    return gateway.merge(gateway.DEFAULT_CONFIG, cfg)


def start_registry(sb: Sandbox) -> Path:
    """`openssl s_server -www` on port 443 in the internet namespace with a self-signed certificate
    for REGISTRY; returns the certificate (curl's --cacert)."""
    key, pem = sb.dir / "registry.key", sb.dir / "registry.pem"
    p = sb.exec(sb.internet, ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(pem),
                              "-days", "1", "-subj", f"/CN={REGISTRY}", "-addext",
                              f"subjectAltName=DNS:{REGISTRY}"], check=False)
    if p.returncode != 0:
        raise RuntimeError(f"openssl req failed: {p.stderr}")
    proc = sb.spawn(sb.internet, "registry", ["openssl", "s_server", "-accept", "443", "-cert", str(pem),
                                              "-key", str(key), "-www", "-quiet"])
    sb.wait_listening(sb.internet, 443, proc=proc)
    return pem


def syns(sb: Sandbox, ip: str) -> int:
    """SYNs to ip:443 counted by the internet namespace's INPUT rule (see main)."""
    out = sb.exec(sb.internet, ["iptables", "-w", "-L", "INPUT", "-v", "-x", "-n"]).stdout
    return sum(int(f[0]) for f in (line.split() for line in out.splitlines())
               if len(f) > 8 and f[8] == ip and "dpt:443" in f)


def show_names(sb: Sandbox, gw: gateway.Gateway, names_dns: dns.DnsServer, registry_pem: Path) -> int:
    status = 0
    print(bold("Names") + f": rule ci-runners-to-build-registries allows {REGISTRY} on 443 by name;")
    print(f"  egressd reads the TLS SNI and asks its DNS server (dnsmasq at {dns.DNS_V4}, which says "
          f"{REGISTRY} is {', '.join(names_dns.records[REGISTRY])})")
    print("  whether the name belongs to the address the client dialled\n")
    for label, ip, want_decision, want_reason, want_rule, want_verified in NAME_CLIENTS:
        url = f"https://{REGISTRY}/"
        expect = f"{want_decision}, {want_reason}" + (f" {want_rule}" if want_rule else "")
        print(bold(f"── {label}: curl --resolve {REGISTRY}:443:{ip} {url}") + f"   (expected: {expect})")
        before_syns = syns(sb, ip)
        before_rec = len(gw.records())
        p = sb.client_exec(["curl", "-sS", "--max-time", "5", "--cacert", str(registry_pem), "--resolve",
                            f"{REGISTRY}:443:{ip}", "-o", "/dev/null", "-w", "%{http_code}", url], timeout=15)
        if p.returncode == 0:
            print(c("32", f"   client saw: HTTP {p.stdout.strip()} over TLS, the registry's certificate verified"))
        else:
            print(c("31", f"   client saw: curl exit {p.returncode}: {p.stderr.strip()}"))
        time.sleep(0.05)
        print(f"   SYNs that reached {ip}:443: {syns(sb, ip) - before_syns}")
        deadline = time.monotonic() + 3
        while True:
            recs = audit.matching(gw.records()[before_rec:], event="connection.decision", dst=f"{ip}:443")
            if recs or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if not recs:
            print(c("31", "   no audit record!"))
            status = 1
        for dec in recs:
            got = (dec.get("decision"), dec.get("reason"), dec.get("rule", ""), dec.get("host"),
                   dec.get("name_source"), dec.get("name_verified"))
            if got == (want_decision, want_reason, want_rule, REGISTRY, "sni", want_verified):
                print(c("32", f"   decision as expected: {expect}, host {REGISTRY} from the SNI, "
                              f"name_verified {want_verified} (dns_answers {dec.get('dns_answers')})"))
            else:
                print(c("31", f"   decision NOT as expected: got {got}"))
                status = 1
            closes = gw.wait_records(timeout=2 if dec.get("decision") == "allow" else 0,
                                     event="connection.close", conn_id=dec.get("conn_id"))
            for r in [dec, *closes]:
                print("   audit: " + audit.pretty(r))
        print()
    return status


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--source-dir", default=str(Path(__file__).resolve().parents[3]))
    args = ap.parse_args()
    source_dir = Path(args.source_dir).resolve()
    egressd = Path(args.build_dir).resolve() / "egressd"
    if not os.access(egressd, os.X_OK):
        print(f"demo: {egressd} not found; build it first (make build)", file=sys.stderr)
        return 1
    if os.geteuid() != 0:
        print("demo: needs root to create network namespaces (try: sudo make demo)", file=sys.stderr)
        return 1
    for tool in ("curl", "openssl", "dnsmasq"):
        if shutil.which(tool) is None:
            print(f"demo: {tool} is missing (make deps)", file=sys.stderr)
            return 1
    policy_dir = source_dir / "policy"
    policy_files = sorted(policy_dir.glob("*.yaml"))
    if not policy_files:
        print(f"demo: no policy files in {policy_dir}", file=sys.stderr)
        return 1

    t0 = time.monotonic()
    status = 0
    with Sandbox(watchdog_s=90, extra_v4=[dns.DNS_V4, REGISTRY_V4]) as sb:
        print(bold("egressd demo") + ": three network namespaces, a kernel REDIRECT, real curl clients\n")
        print("  client 192.0.2.2 ──veth── gateway 192.0.2.1 | 203.0.113.254 ──veth── internet 203.0.113.0/24")
        print(f"                             iptables -t nat PREROUTING -i to-client -p tcp "
              f"-j REDIRECT --to-ports {REDIRECT_PORT}")
        print(f"  namespaces {sb.client}, {sb.gateway}, {sb.internet}\n")

        pki = tls_pki.make_pki(sb, source_dir)
        names_dns = dns.DnsServer.start(sb, {REGISTRY: [REGISTRY_V4]})
        registry_pem = start_registry(sb)
        for ip in (REGISTRY_V4, "203.0.113.99"):
            sb.exec(sb.internet, ["iptables", "-w", "-I", "INPUT", "-d", ip, "-p", "tcp", "--dport", "443",
                                  "--syn", "-j", "ACCEPT"])
        # Port 8443 goes to the mTLS listener; everything else to the plain one.
        sb.exec(sb.gateway, ["iptables", "-w", "-t", "nat", "-I", "PREROUTING", "1", "-i", IF_GW_CLIENT,
                             "-p", "tcp", "--dport", "8443", "-j", "REDIRECT", "--to-ports", str(TLS_PORT)])
        http = gateway.start_upstream(sb, "http", [f"{ip}:80" for _, ip, *_ in CLIENTS] + [TLS_DST],
                                      "http")
        gw = gateway.start_egressd(sb, str(egressd), policy_dir, demo_config(source_dir, pki),
                                   name="egressd")
        start = audit.matching(gw.records(), event="gateway.start")
        print(f"  egressd running in {sb.gateway} with policy/ ({len(policy_files)} file(s))"
              + (f", policy version {start[0].get('policy_version', '')[:12]}" if start else ""))
        print()

        for label, ip, want_decision, want_reason, want_rule in CLIENTS:
            url = f"http://{ip}/"
            expect = f"{want_decision}, {want_reason}" + (f" {want_rule}" if want_rule else "")
            print(bold(f"── {label}: curl {url}") + f"   (expected: {expect})")
            before = len([a for a in http.accepts() if a["local"] == f"{ip}:80"])
            p = sb.client_exec(["curl", "-sS", "--max-time", "5", url], timeout=15)
            if p.returncode == 0:
                print(c("32", f"   client saw: HTTP 200, body {p.stdout.strip()!r}"))
            else:
                why = {7: "reset before connect() returned", 52: "closed without a reply",
                       56: "reset while reading"}.get(p.returncode, "")
                print(c("31", f"   client saw: curl exit {p.returncode}"
                              + (f" ({why})" if why else "") + f": {p.stderr.strip()}"))
            time.sleep(0.05)
            after = len([a for a in http.accepts() if a["local"] == f"{ip}:80"])
            print(f"   server {ip}:80 accepted {after - before} connection(s)")
            recs = gw.wait_records(timeout=3, event="connection.decision", dst=f"{ip}:80")
            if not recs:
                print(c("31", "   no audit record!"))
                status = 1
            for dec in recs:
                got = (dec.get("decision"), dec.get("reason"), dec.get("rule", ""))
                if got == (want_decision, want_reason, want_rule):
                    print(c("32", f"   decision as expected: {expect}"))
                else:
                    print(c("31", f"   decision NOT as expected: got {got}"))
                    status = 1
                closes = gw.wait_records(timeout=2 if dec.get("decision") == "allow" else 0,
                                         event="connection.close", conn_id=dec.get("conn_id"))
                for r in [dec, *closes]:
                    print("   audit: " + audit.pretty(r))
            print()
        status |= show_names(sb, gw, names_dns, registry_pem)
        print(bold("mTLS identities") + f": port 8443 is redirected to listener egress-mtls (:{TLS_PORT}, "
              "tls.mode required);\n  each workload presents its certificate from the dev CA "
              "(certs/make-dev-certs.sh)\n")
        for label, cert, want_decision, want_reason, want_rule, spiffe in TLS_CLIENTS:
            expect = f"{want_decision}, {want_reason}" + (f" {want_rule}" if want_rule else "")
            url = "https://egressd.local:8443/"
            print(bold(f"── {label}: curl --cert {cert}.pem {url}") + f"   (expected: {expect})")
            print(f"   identity {spiffe}; connects to {TLS_DST}")
            before_acc = len([a for a in http.accepts() if a["local"] == TLS_DST])
            before_rec = len(gw.records())
            p = sb.client_exec(["curl", "-sS", "--max-time", "5", "--cacert", str(pki / "ca.pem"),
                                "--cert", str(pki / f"{cert}.pem"), "--key", str(pki / f"{cert}.key"),
                                "--connect-to", f"egressd.local:8443:{TLS_DST}", url], timeout=15)
            if p.returncode == 0:
                print(c("32", f"   client saw: HTTP 200 over mTLS, body {p.stdout.strip()!r}"))
            else:
                print(c("31", f"   client saw: curl exit {p.returncode}: {p.stderr.strip()}"))
            time.sleep(0.05)
            after_acc = len([a for a in http.accepts() if a["local"] == TLS_DST])
            print(f"   server {TLS_DST} accepted {after_acc - before_acc} connection(s)")
            deadline = time.monotonic() + 3
            while True:
                recs = audit.matching(gw.records()[before_rec:], event="connection.decision", dst=TLS_DST)
                if recs or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            if not recs:
                print(c("31", "   no audit record!"))
                status = 1
            for dec in recs:
                ident = dec.get("identity", {})
                got = (dec.get("decision"), dec.get("reason"), dec.get("rule", ""), ident.get("spiffe_id"))
                if got == (want_decision, want_reason, want_rule, spiffe):
                    print(c("32", f"   decision as expected: {expect}, identity {spiffe}"))
                else:
                    print(c("31", f"   decision NOT as expected: got {got}"))
                    status = 1
                closes = gw.wait_records(timeout=2 if dec.get("decision") == "allow" else 0,
                                         event="connection.close", conn_id=dec.get("conn_id"))
                print(f"   audit: identity spiffe_id={ident.get('spiffe_id')} cn={ident.get('cn', '')} "
                      f"fingerprint={ident.get('fingerprint_sha256', '')[:16]}… tls_version={dec.get('tls_version')}")
                for r in [dec, *closes]:
                    print("   audit: " + audit.pretty(r))
            print()
        print(f"audit log: {len(gw.records())} record(s); egressd stopping (SIGTERM)")
        rc = gw.terminate(timeout=40)
        for r in audit.matching(gw.records(), event="gateway.stop"):
            print("   audit: " + audit.pretty(r))
        if rc != 0:
            print(c("31", f"egressd exited {rc}:\n{gw.stderr()[-2000:]}"))
            status = 1
    print(f"sandbox torn down; demo took {time.monotonic() - t0:.1f}s")
    return status


if __name__ == "__main__":
    sys.exit(main())
