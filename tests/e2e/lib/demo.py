#!/usr/bin/env python3
"""`make demo`: egressd in the network-namespace sandbox with the repository's config/ and policy/.

    demo.py BUILD_DIR [--source-dir DIR]

Brings up the three namespaces (lib/sandbox.py), starts HTTP servers at 203.0.113.10, .66 and .99,
starts BUILD_DIR/egressd with config/egressd.yaml (paths adapted to a temp dir) and policy/, runs
three curl clients from 192.0.2.2 (one allowed, one denied by rule, one denied by default), prints
what each saw, what each server saw and the audit records they produced, and tears everything down.
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
import gateway  # noqa: E402
from sandbox import REDIRECT_PORT, Sandbox  # noqa: E402

# (label, destination, expected decision, reason, rule): the sandbox contract's demo decisions.
CLIENTS = [
    ("allowed", "203.0.113.10", "allow", "rule", "ci-runners-to-package-mirrors"),
    ("denied by rule", "203.0.113.66", "deny", "rule", "deny-blocklist"),
    ("denied by default", "203.0.113.99", "deny", "default", ""),
]

TTY = sys.stdout.isatty()


def c(code: str, text: str) -> str:
    return f"\033[{code}m{text}\033[0m" if TTY else text


def bold(text: str) -> str:
    return c("1", text)


def demo_config(source_dir: Path) -> dict:
    """config/egressd.yaml with its paths made absolute / pointed at the demo's temp dir."""
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
    cfg.setdefault("policy", {})
    cfg.setdefault("audit", {})
    cfg["audit"]["path"] = "audit.jsonl"  # replaced by gateway.write_config with a temp path
    return gateway.merge(gateway.DEFAULT_CONFIG, cfg)


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
    if shutil.which("curl") is None:
        print("demo: curl is missing (make deps)", file=sys.stderr)
        return 1
    policy_dir = source_dir / "policy"
    policy_files = sorted(policy_dir.glob("*.yaml"))
    if not policy_files:
        print(f"demo: no policy files in {policy_dir}", file=sys.stderr)
        return 1

    t0 = time.monotonic()
    status = 0
    with Sandbox(watchdog_s=60) as sb:
        print(bold("egressd demo") + ": three network namespaces, a kernel REDIRECT, real curl clients\n")
        print("  client 192.0.2.2 ──veth── gateway 192.0.2.1 | 203.0.113.254 ──veth── internet 203.0.113.0/24")
        print(f"                             iptables -t nat PREROUTING -i to-client -p tcp "
              f"-j REDIRECT --to-ports {REDIRECT_PORT}")
        print(f"  namespaces {sb.client}, {sb.gateway}, {sb.internet}\n")

        http = gateway.start_upstream(sb, "http", [f"{ip}:80" for _, ip, *_ in CLIENTS], "http")
        gw = gateway.start_egressd(sb, str(egressd), policy_dir, demo_config(source_dir),
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
