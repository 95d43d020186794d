#!/usr/bin/env python3
"""Issue 21: `egressctl policy replay` and `policy unused` on the audit log egressd really wrote.

Traffic under the lab policy A: 203.0.113.10:7 and .20:7 allowed (clients-to-lab), .99:7 denied by
default, .66:7 denied by rule deny-blocklist. Then policy B (.20 taken out of the lab: tighten; a
rule for .99: widen) is replayed against that log: each group with its kind, client, destination,
rules and count, and the exit codes of --fail-on. The log split as logrotate leaves it (an older
.gz file and the current one) gives the same report; a line edited after the fact is refused with
its file and line (exit 2). `policy unused` on A: every rule decided; on B: the widened rule for
.99 decided (once), the Destination `lab-old`, which nothing refers to, is unused.
"""

import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402
from policies import (ALLOW_LAB, BLOCKLIST, DENY_BLOCKLIST, LAB, ROLE, SETTINGS,  # noqa: E402
                      docs, lab_destination)

LAB_WITHOUT_20 = lab_destination().replace('except: [203.0.113.99/32, "2001:db8:2::99/128"]',
                                           'except: [203.0.113.20/32, 203.0.113.99/32, '
                                           '"2001:db8:2::99/128"]')
ALLOW_99 = """\
kind: Rule
id: clients-to-99
action: allow
from: [{role: sandbox-clients}]
to: [{cidrs: [203.0.113.99/32], ports: [7]}]
"""
UNUSED_DESTINATION = """\
kind: Destination
name: lab-old
cidrs: [198.51.100.0/24]
"""
POLICY_B = docs(SETTINGS, ROLE, LAB_WITHOUT_20, BLOCKLIST, DENY_BLOCKLIST, ALLOW_LAB, ALLOW_99,
                UNUSED_DESTINATION)


def egressctl(t: harness.Case, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([t.args.egressctl, *args], capture_output=True, text=True, timeout=60)


def change(report: dict, kind: str, dst: str) -> dict:
    found = [c for c in report.get("changes", []) if c["kind"] == kind and c["dst"] == dst]
    return found[0] if found else {}


def run(t: harness.Case) -> None:
    if not t.args.egressctl:
        t.check(False, "egressctl is built (the case needs it)")
        return
    up = t.upstream("echo", ["203.0.113.10:7", "203.0.113.20:7", "203.0.113.99:7",
                             "203.0.113.66:7"])
    gw = t.egressd(LAB)
    for dst in ["203.0.113.10:7", "203.0.113.20:7", "203.0.113.99:7", "203.0.113.66:7"]:
        t.client("--dst", dst, "--send", "replay me\n", "--shutdown")
    decisions = gw.wait_records(event="connection.decision", count=4)
    t.require(len(decisions) == 4, "four decision records under policy A", str(decisions))
    t.check_eq(gw.terminate(), 0, "egressd exits 0 on SIGTERM")
    log = str(gw.audit_path)
    del up

    with tempfile.TemporaryDirectory(prefix="egress-replay-") as tmp:
        work = Path(tmp)
        (work / "a").mkdir()
        (work / "a" / "policy.yaml").write_text(LAB)
        (work / "b").mkdir()
        (work / "b" / "policy.yaml").write_text(POLICY_B)
        a, b = str(work / "a"), str(work / "b")

        p = egressctl(t, "policy", "replay", b, "--audit", log, "--format", "json")
        t.check_eq(p.returncode, 1, "replay of B: exit 1 (differences)", p.stderr)
        report = json.loads(p.stdout) if p.stdout.strip() else {}
        totals = report.get("totals", {})
        t.check_eq(totals.get("decisions"), 4, "replay counts the four decisions")
        t.check_eq((totals.get("tighten"), totals.get("widen"), totals.get("rule_changed"),
                    totals.get("indeterminate"), totals.get("unchanged")), (1, 1, 0, 0, 2),
                   "tighten, widen, rule_changed, indeterminate, unchanged")
        t.check(report.get("verified") is True, "the chain was verified", str(report))
        tight = change(report, "tighten", "203.0.113.20:7")
        t.check_eq(tight.get("client"), "192.0.2.2", "tighten: the client address")
        t.check_eq(tight.get("old"), {"decision": "allow", "rule": "clients-to-lab"},
                   "tighten: the recorded decision")
        t.check_eq(tight.get("new"), {"decision": "deny", "rule": None}, "tighten: B denies")
        t.check_eq(tight.get("count"), 1, "tighten: one record")
        t.check_eq(tight.get("first_seen"), decisions[1].get("ts"), "tighten: first_seen is the ts")
        wide = change(report, "widen", "203.0.113.99:7")
        t.check_eq(wide.get("new"), {"decision": "allow", "rule": "clients-to-99"},
                   "widen: B allows .99 by its new rule")

        for fail_on, code in [("none", 0), ("tighten", 1), ("widen", 1), ("any", 1)]:
            p = egressctl(t, "policy", "replay", b, "--audit", log, "--fail-on", fail_on)
            t.check_eq(p.returncode, code, f"--fail-on {fail_on}: exit {code}", p.stdout + p.stderr)
        p = egressctl(t, "policy", "replay", a, "--audit", log)
        t.check_eq(p.returncode, 0, "replay of A itself: no difference", p.stdout + p.stderr)
        p = egressctl(t, "policy", "replay", b, "--baseline", b, "--audit", log)
        t.check_eq(p.returncode, 0, "B against the baseline B: no difference", p.stdout + p.stderr)

        # Rotated: the first half gzip-compressed, as logrotate's compress leaves it.
        lines = Path(log).read_text().splitlines(keepends=True)
        older, current = work / "audit.jsonl.1.gz", work / "audit.jsonl"
        half = len(lines) // 2
        with gzip.open(older, "wt") as f:
            f.writelines(lines[:half])
        current.write_text("".join(lines[half:]))
        p = egressctl(t, "policy", "replay", b, "--audit", str(older), str(current), "--format",
                      "json")
        t.check_eq(p.returncode, 1, "replay of rotated files: exit 1", p.stderr)
        rotated = json.loads(p.stdout) if p.stdout.strip() else {}
        t.check_eq(rotated.get("totals"), totals, "rotated files: the same totals")

        # An edited line: allow the denied .99 after the fact.
        edited = work / "edited.jsonl"
        index = next(i for i, l in enumerate(lines) if '"203.0.113.99"' in l and
                     '"connection.decision"' in l)
        text = list(lines)
        text[index] = text[index].replace('"decision":"deny"', '"decision":"allow"')
        edited.write_text("".join(text))
        p = egressctl(t, "policy", "replay", b, "--audit", str(edited))
        t.check_eq(p.returncode, 2, "an edited log: exit 2", p.stdout + p.stderr)
        t.check(f"{edited}:{index + 1}:" in p.stderr and "refused" in p.stderr,
                "the refusal names the file and line", p.stderr)
        t.check(p.stdout == "", "nothing reported from an edited log", p.stdout)

        p = egressctl(t, "policy", "unused", a, "--audit", log)
        t.check_eq(p.returncode, 0, "unused on A: every rule decided", p.stdout + p.stderr)
        p = egressctl(t, "policy", "unused", b, "--audit", log, "--format", "json")
        t.check_eq(p.returncode, 1, "unused on B: something unused", p.stdout + p.stderr)
        unused = json.loads(p.stdout) if p.stdout.strip() else {}
        t.check_eq(unused.get("unused", {}).get("destinations"), ["lab-old"],
                   "unused on B: the Destination nothing refers to")
        decided = {r["id"]: r["decided"] for r in unused.get("rules", [])}
        t.check_eq(decided.get("clients-to-99"), 1, "unused on B: clients-to-99 decided once")


harness.main(run)
