#!/usr/bin/env python3
"""Rotation as logrotate's `create` mode does it: rename the file, SIGUSR1, and the chain goes on.

1. 3 connections: their records in audit.jsonl.
2. mv audit.jsonl audit.jsonl.1; 2 connections: their records still go to the renamed file (the
   writer holds it open), and no audit.jsonl appears by itself.
3. SIGUSR1: audit.jsonl is created again; 3 connections: their records are in the new file only.
4. `egressctl audit verify audit.jsonl.1 audit.jsonl` passes: the new file's first record has the
   next seq and the SHA-256 of the old file's last line as prev; the new file alone verifies as
   "continues an earlier file"; the files in the wrong order do not verify.
5. A second rotation (the new file to .2, SIGUSR1), SIGTERM: gateway.stop lands in the newest
   file and the three files verify together. Every record validates against the schema; every
   connection of the run has its decision and close record in exactly one of the files.
"""

import hashlib
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
import observe  # noqa: E402
from policies import LAB  # noqa: E402


def verify(t: harness.Case, *files) -> subprocess.CompletedProcess:
    return subprocess.run([t.args.egressctl, "audit", "verify", *map(str, files)], capture_output=True,
                          text=True, timeout=60)


def run(t: harness.Case) -> None:
    t.require(bool(t.args.egressctl), "egressctl is built (audit verify)")
    t.upstream("echo", ["203.0.113.10:7"])
    gw = t.egressd(LAB)
    current = gw.audit_path
    old1 = current.with_name(current.name + ".1")
    old2 = current.with_name(current.name + ".2")
    sources: list[str] = []

    def connections(n: int, tag: str) -> list[str]:
        srcs = []
        for i in range(n):
            text = f"{tag}-{i}\n"
            r = t.client("--dst", "203.0.113.10:7", "--send", text, "--shutdown", "--timeout", "5")
            t.check_eq(r["recv"], text, f"{tag}: connection {i} echoed")
            srcs.append(r["local"])
        sources.extend(srcs)
        return srcs

    def wait_close_in(path, src) -> bool:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if audit.matching(audit.load(path), event="connection.close", src=src):
                return True
            time.sleep(0.02)
        return False

    def where(srcs: list[str], path) -> list[str]:
        """The sources (of `srcs`) whose decision and close records are both in `path`."""
        recs = audit.load(path)
        return [s for s in srcs if audit.matching(recs, event="connection.decision", src=s)
                and audit.matching(recs, event="connection.close", src=s)]

    first = connections(3, "before")
    t.check(wait_close_in(current, first[-1]), "records of the first connections are in audit.jsonl")

    os.rename(current, old1)
    between = connections(2, "renamed")
    t.check(wait_close_in(old1, between[-1]), "after the rename, records still go to the renamed file")
    t.check(not current.exists(), "no audit.jsonl appears before SIGUSR1")

    gw.proc.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while not current.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    t.require(current.exists(), "SIGUSR1: egressd creates audit.jsonl again")
    t.check_eq(oct(current.stat().st_mode & 0o777), "0o640", "the new file has mode 0640")
    after = connections(3, "reopened")
    t.check(wait_close_in(current, after[-1]), "records after SIGUSR1 go to the new file")
    t.check_eq(where(first + between, old1), first + between, "audit.jsonl.1 holds the 5 connections before the reopen")
    t.check_eq(where(after, current), after, "audit.jsonl holds the 3 connections after it")
    t.check_eq(where(after, old1), [], "none of them in audit.jsonl.1")
    t.check_eq(where(first + between, current), [], "none of the earlier ones in audit.jsonl")

    old_recs, new_recs = audit.load(old1), audit.load(current)
    old_last_line = old1.read_bytes().rstrip(b"\n").split(b"\n")[-1]
    t.check_eq((new_recs[0]["seq"], new_recs[0]["prev"]),
               (old_recs[-1]["seq"] + 1, hashlib.sha256(old_last_line).hexdigest()),
               "the new file's first record: next seq, prev = SHA-256 of the old file's last line")
    v = verify(t, old1, current)
    t.check(v.returncode == 0 and f"seq 1..{new_recs[-1]['seq']} in 2 file(s)" in v.stdout,
            "egressctl audit verify audit.jsonl.1 audit.jsonl: the chain runs across the files", v.stdout + v.stderr)
    v = verify(t, current)
    t.check(v.returncode == 0 and "continues an earlier file" in v.stdout,
            "the new file alone verifies and says it continues an earlier file", v.stdout + v.stderr)
    v = verify(t, current, old1)
    t.check(v.returncode == 1 and "BROKEN" in v.stdout, "the files in the wrong order do not verify",
            v.stdout + v.stderr)

    # Second rotation, then stop: gateway.stop goes to the newest file.
    os.rename(current, old2)
    gw.proc.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while not current.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    t.require(current.exists(), "second SIGUSR1: audit.jsonl created again")
    last = connections(2, "second")
    t.check(wait_close_in(current, last[-1]), "records after the second reopen go to the new file")
    t.check_eq(gw.terminate(), 0, "egressd exits 0 on SIGTERM")
    t.check(bool(audit.matching(audit.load(current), event="gateway.stop")), "gateway.stop is in the newest file")
    v = verify(t, old1, old2, current)
    t.check(v.returncode == 0 and "in 3 file(s)" in v.stdout, "the three files verify together", v.stdout + v.stderr)

    everything = audit.load(old1) + audit.load(old2) + audit.load(current)
    t.check_eq([r["seq"] for r in everything], list(range(1, len(everything) + 1)),
               "seq runs 1..N across the three files without a gap")
    for s in sources:
        n_dec = len(audit.matching(everything, event="connection.decision", src=s))
        n_close = len(audit.matching(everything, event="connection.close", src=s))
        if (n_dec, n_close) != (1, 1):
            t.check(False, f"{s}: one decision and one close record across the files", f"{n_dec}, {n_close}")
            break
    else:
        t.check(True, f"each of the {len(sources)} connections has one decision and one close record across the files")
    observe.check_schema(t, everything, "rotation")


if __name__ == "__main__":
    harness.main(run, watchdog_s=90)
