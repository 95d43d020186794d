#!/usr/bin/env python3
"""A policy file that cannot be read fails the reload and start-up; it is never skipped.

Issue 17 item 1: a `*.yaml` symlink whose target vanished used to be skipped, so a reload
"succeeded" with its rules gone and a denied destination became allowed.

Policy: LAB plus 20-deny.yaml, a symlink to deny-ten.rules (rule deny-ten: 203.0.113.10).
1. The target is removed (a dangling symlink) and SIGHUP: the reload fails, its policy.reload
   record and the log name 20-deny.yaml and why, and 203.0.113.10 stays denied by deny-ten with
   the same policy_version.
2. 20-deny.yaml becomes a FIFO and SIGHUP: the reload fails the same way and does not block the
   gateway (a reader that opened the FIFO would wait for a writer forever): connections are still
   decided at once.
3. `egressd --check-config` on that directory exits 1 naming the file: start-up fails too.
"""

import os
import subprocess
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


def run(t: harness.Case) -> None:
    up = t.upstream("echo", ["203.0.113.10:7", "203.0.113.20:7"])
    gw = t.egressd({"10-lab.yaml": LAB})
    # The gateway started from 10-lab.yaml alone; add the symlinked rule and reload into it.
    (gw.policy_dir / "deny-ten.rules").write_text(DENY_TEN)
    (gw.policy_dir / "20-deny.yaml").symlink_to("deny-ten.rules")
    gw.reload()
    ok = gw.wait_records(event="policy.reload", result="ok")
    t.require(len(ok) == 1, "the policy with the symlinked rule file loads", str(gw.records()[-3:]))

    def probe(dst: str) -> tuple[dict, dict | None]:
        r = t.client("--dst", dst, "--send", "probe\n", "--delay-send", "0.2", "--shutdown",
                     "--timeout", "5")
        return r, t.decision_for(gw, r)

    r, d = probe("203.0.113.10:7")
    t.require(d is not None and d.get("rule") == "deny-ten", "203.0.113.10 denied by deny-ten",
              str(d))
    version = d.get("policy_version")

    def failed_reload(what: str, message: str) -> None:
        before = len(audit.matching(gw.records(), event="policy.reload", result="failed"))
        stderr_before = len(gw.stderr())
        gw.reload()
        failed = gw.wait_records(event="policy.reload", result="failed", count=before + 1)
        t.check_eq(len(failed), before + 1, f"{what}: the reload fails")
        errors = failed[-1].get("errors", []) if failed else []
        t.check_eq(errors, [message], f"{what}: its record names the file and why")
        deadline = time.monotonic() + 5
        while message not in gw.stderr()[stderr_before:] and time.monotonic() < deadline:
            time.sleep(0.05)
        t.check(message in gw.stderr()[stderr_before:], f"{what}: so does the log",
                gw.stderr()[stderr_before:][-1000:])
        start = time.monotonic()
        r, d = probe("203.0.113.10:7")
        t.check_eq((r["recv_len"], d and d.get("rule"), d and d.get("policy_version")),
                   (0, "deny-ten", version), f"{what}: 203.0.113.10 still denied by the old policy")
        r, d = probe("203.0.113.20:7")
        t.check_eq(r["recv"], "probe\n", f"{what}: 203.0.113.20 still allowed")
        t.check(time.monotonic() - start < 5, f"{what}: the gateway is not blocked",
                f"{time.monotonic() - start:.1f}s for two connections")
        t.check(gw.proc.running(), f"{what}: egressd still runs")

    # 1. The symlink's target vanishes.
    (gw.policy_dir / "deny-ten.rules").unlink()
    failed_reload("dangling symlink", "20-deny.yaml: error: cannot read: No such file or directory "
                  "(dangling symlink to \"deny-ten.rules\")")

    # 2. A FIFO in its place.
    (gw.policy_dir / "20-deny.yaml").unlink()
    os.mkfifo(gw.policy_dir / "20-deny.yaml")
    failed_reload("FIFO", "20-deny.yaml: error: cannot read: not a regular file (a FIFO)")

    # 3. Start-up: the same directory is refused.
    (gw.policy_dir / "20-deny.yaml").unlink()
    (gw.policy_dir / "20-deny.yaml").symlink_to("deny-ten.rules")
    p = subprocess.run([t.args.egressd, "--config", str(gw.config_path), "--check-config"],
                       capture_output=True, text=True, timeout=30)
    t.check_eq(p.returncode, 1, "start-up (--check-config) with a dangling symlink exits 1",
               p.stdout + p.stderr)
    t.check("20-deny.yaml: error: cannot read: No such file or directory" in p.stderr,
            "... naming the file and why", p.stderr[-1000:])
    t.check_eq(len([a for a in up.accepts() if a.get("local", "").startswith("203.0.113.10")]), 0,
               "203.0.113.10 accepted no connection")


harness.main(run)
