"""The frame of one end-to-end case: arguments, a Sandbox, soft checks, diagnostics on failure.

    import harness

    def run(t: harness.Case) -> None:
        up = t.upstream("echo", ["203.0.113.10:7"])
        gw = t.egressd(POLICY)
        r = t.client("--dst", "203.0.113.10:7", "--send", "hi", "--shutdown")
        t.check_eq(r["recv"], "hi", "the client reads its bytes back")

    harness.main(run)

Invoked by ctest as `python3 case.py --egressd PATH [--egressctl PATH]`. Exit 0 when every check
held, 1 otherwise, 77 (ctest SKIP_RETURN_CODE) when not root: network namespaces need CAP_NET_ADMIN.
On failure the egressd stderr, the audit log and the upstream events are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import traceback

import audit
import gateway
from sandbox import LIB_DIR, PYTHON, Process, Sandbox

SKIP = 77
TOOLS = ["ip", "iptables", "ip6tables", "ss", "sysctl"]


class CheckFailed(AssertionError):
    pass


class Case:
    def __init__(self, name: str, args: argparse.Namespace, sb: Sandbox) -> None:
        self.name = name
        self.args = args
        self.sb = sb
        self.failures: list[str] = []
        self.gateways: list[gateway.Gateway] = []
        self.upstreams: list[gateway.Upstream] = []

    # -------------------------------------------------------------- things in the sandbox

    def upstream(self, mode: str, listen: list[str], name: str | None = None,
                 extra: list[str] | None = None) -> gateway.Upstream:
        up = gateway.start_upstream(self.sb, mode, listen, name, extra)
        self.upstreams.append(up)
        return up

    def egressd(self, policy_files: dict[str, str] | str, config: dict | None = None,
                **kw) -> gateway.Gateway:
        if isinstance(policy_files, str):
            policy_files = {"policy.yaml": policy_files}
        name = kw.pop("name", f"egressd-{len(self.gateways)}" if self.gateways else "egressd")
        gw = gateway.start_egressd(self.sb, self.args.egressd, policy_files, config, name=name, **kw)
        self.gateways.append(gw)
        return gw

    def client(self, *args: str, timeout: float = 120) -> dict:
        return self.sb.client_run(list(args), timeout=timeout)

    def client_bg(self, name: str, *args: str) -> Process:
        """Starts lib/client.py in the background in the client namespace; see client_result."""
        return self.sb.spawn(self.sb.client, name, [PYTHON, str(LIB_DIR / "client.py"), *args])

    def client_result(self, proc: Process, timeout: float = 60) -> dict:
        proc.wait(timeout=timeout)
        out = proc.stdout_path.read_text() if proc.stdout_path else ""
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            raise CheckFailed(f"{proc.name}: no JSON result ({proc.popen.returncode}): {out!r} "
                              f"{proc.stderr_text()[-2000:]}")

    # -------------------------------------------------------------- checks

    def check(self, cond: bool, what: str, detail: str = "") -> bool:
        if cond:
            print(f"ok   - {what}")
        else:
            msg = f"{what}" + (f": {detail}" if detail else "")
            print(f"FAIL - {msg}")
            self.failures.append(msg)
        return bool(cond)

    def check_eq(self, got, expected, what: str, context: str = "") -> bool:
        detail = f"expected {expected!r}, got {got!r}" + (f" ({context.strip()})" if context else "")
        return self.check(got == expected, what, detail)

    def require(self, cond: bool, what: str, detail: str = "") -> None:
        """Like check, but stops the case: what follows depends on it."""
        if not self.check(cond, what, detail):
            raise CheckFailed(what)

    def check_record(self, gw: gateway.Gateway, what: str, timeout: float = 5.0,
                     count: int = 1, **want) -> dict | None:
        """Checks that exactly `count` audit records match `want` (waiting up to `timeout` for them);
        returns the first."""
        found = gw.wait_records(timeout=timeout, count=count, **want)
        if len(found) < count:
            # Wait was cut short: nothing to add, but show what is there.
            pass
        shown = "\n      ".join(audit.pretty(r) for r in gw.records()[-8:]) or "(audit log empty)"
        self.check(len(found) == count, what,
                   f"expected {count} record(s) matching {want}, found {len(found)}; last records:\n"
                   f"      {shown}")
        return found[0] if found else None

    def check_no_upstream_accept(self, up: gateway.Upstream, what: str) -> None:
        acc = up.accepts()
        self.check(len(acc) == 0, what, f"upstream accepted {len(acc)}: {acc[:3]}")

    def decision_for(self, gw: gateway.Gateway, result: dict, timeout: float = 5.0) -> dict | None:
        """The connection.decision record of the connection a client.py `result` describes (matched
        on the client's own address and port, so concurrent connections cannot be confused)."""
        if not result.get("local"):
            return None
        found = gw.wait_records(timeout=timeout, event="connection.decision", src=result["local"])
        return found[-1] if found else None

    def check_denied(self, gw: gateway.Gateway, ups: list[gateway.Upstream], dst: str, reason: str,
                     rule: str | None = None, src_host: str | None = None) -> dict | None:
        """Connects to `dst` and sends a few bytes; checks what a denied connection must look like:
        the client is reset without receiving a byte, no upstream accepted anything, one
        connection.decision record says deny with `reason` (and `rule`), and no connection.close
        record follows it. Returns the decision record."""
        accepted_before = [len(u.accepts()) for u in ups]
        # The bytes go out 0.3s after connecting, while the client already reads: a reset must be
        # seen as a reset (were send() first to hit the RST, it would eat the error and the read
        # would see EOF), and a gateway that waited for data before deciding is still exercised.
        r = self.client("--dst", dst, "--send", "must-not-leave\n", "--delay-send", "0.3",
                        "--timeout", "5")
        self.check(r["connected"], f"{dst}: the kernel redirect accepts the connection", str(r))
        self.check_eq(r["recv_len"], 0, f"{dst}: denied client receives no bytes")
        self.check_eq(r["end"], "reset", f"{dst}: denied client's connection is reset")
        # Matched on the client's address and port: a record written before the original destination
        # was known (over_limit) has no dst.
        self.require(bool(r.get("local")), f"{dst}: the client knows its own address", str(r))
        dec = self.check_record(gw, f"{dst}: one deny decision record", event="connection.decision",
                                src=r["local"], decision="deny")
        # The decision is written before any upstream connect; were there one, it would be done by now.
        for u, before in zip(ups, accepted_before):
            acc = u.accepts()[before:]
            self.check(not acc, f"{dst}: upstream {u.proc.name} accepted no connection", str(acc))
        if dec is None:
            return None
        self.check_eq(dec.get("reason"), reason, f"{dst}: deny reason")
        if "dst" in dec or reason != "over_limit":
            self.check_eq(audit.endpoint(dec.get("dst")), dst, f"{dst}: deny dst")
        if rule is not None:
            self.check_eq(dec.get("rule"), rule, f"{dst}: deny rule")
        else:
            self.check(not dec.get("rule"), f"{dst}: no rule named", str(dec.get("rule")))
        if src_host is not None:
            self.check_eq(audit.host(dec.get("src")), src_host, f"{dst}: deny src")
        self.check(bool(dec.get("policy_version")), f"{dst}: deny carries policy_version", str(dec))
        closes = audit.matching(gw.records(), event="connection.close", conn_id=dec.get("conn_id"))
        self.check(not closes, f"{dst}: no close record for a denied connection", str(closes[:1]))
        return dec

    def verify_audit_chains(self) -> None:
        """Every audit log the case produced passes `egressctl audit verify` (the hash chain is
        whole: no record lost, edited or reordered), when the build has egressctl."""
        if not self.args.egressctl:
            return
        for gw in self.gateways:
            if not gw.audit_path.exists():
                continue
            p = subprocess.run([self.args.egressctl, "audit", "verify", str(gw.audit_path)],
                               capture_output=True, text=True, timeout=60)
            self.check(p.returncode == 0, f"{gw.proc.name}: egressctl audit verify passes",
                       (p.stdout + p.stderr).strip()[-1000:])

    # -------------------------------------------------------------- diagnostics

    def dump(self) -> None:
        for gw in self.gateways:
            print(f"--- {gw.proc.name} stderr (last 60 lines) ---")
            print("\n".join(gw.stderr().splitlines()[-60:]))
            print(f"--- {gw.proc.name} audit log (last 30 records) ---")
            try:
                for r in gw.records()[-30:]:
                    print("  " + audit.pretty(r))
            except AssertionError as e:
                print(f"  {e}")
        for up in self.upstreams:
            print(f"--- {up.proc.name} events (last 10) ---")
            for e in up.events()[-10:]:
                print(f"  {e}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--egressd", required=True)
    ap.add_argument("--egressctl")
    ap.add_argument("--source-dir", default=os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))))
    return ap.parse_args(argv)


def preflight() -> str | None:
    """Why the suite cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"missing tools: {', '.join(missing)} (run `make deps`)"
    return None


def main(body, mode: str = "redirect", watchdog_s: int = 240, extra_v4: list[str] | None = None,
         extra_v6: list[str] | None = None) -> None:
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    args = parse_args(sys.argv[1:])
    why = preflight()
    if why:
        print(f"SKIP {name}: {why}")
        sys.exit(SKIP)
    if not os.access(args.egressd, os.X_OK):
        print(f"FAIL {name}: egressd not executable at {args.egressd}")
        sys.exit(1)
    t0 = time.monotonic()
    status = 1
    sb = Sandbox(mode=mode, watchdog_s=watchdog_s, extra_v4=extra_v4 or [], extra_v6=extra_v6 or [])
    with sb:
        t = Case(name, args, sb)
        try:
            body(t)
            t.verify_audit_chains()
        except CheckFailed:
            pass
        except BaseException as e:  # noqa: BLE001 - report everything, including the watchdog
            t.failures.append(f"{type(e).__name__}: {e}")
            print(f"FAIL - {type(e).__name__}: {e}")
            traceback.print_exc(file=sys.stdout)
        if t.failures:
            sb.failed = True
            t.dump()
        else:
            status = 0
    elapsed = time.monotonic() - t0
    if status == 0:
        print(f"PASS {name} ({elapsed:.1f}s)")
    else:
        print(f"FAIL {name}: {len(t.failures)} check(s) failed ({elapsed:.1f}s)")
    sys.stdout.flush()
    sys.exit(status)
