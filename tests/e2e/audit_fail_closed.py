#!/usr/bin/env python3
"""audit.on_error with the audit file on a tiny tmpfs that fills up, then frees.

The tmpfs is mounted inside a mount namespace of the gateway's own (made by `ip netns exec`, whose
mounts never propagate back): a holder process mounts it and stays, egressd joins that mount
namespace with nsenter, and the test reaches the files through /proc/<holder>/root. Nothing is
mounted in the root mount namespace (checked).

fail_closed (the default):
  * the file system full: once the file's last page is used up, new connections are reset with 0
    bytes and the upstream accepts none of them; /readyz answers 503 "audit log unavailable";
    egressd_audit_write_errors_total > 0, egressd_audit_sink_healthy 0, the denials counted as
    egressd_connections_total{decision="deny",reason="audit_unavailable"}; the file still verifies
    (a half-written batch is cut back, no torn line).
  * space freed: it recovers by itself: /readyz 200, connections allowed again, and the records of
    the connections refused during the outage are in the file (nothing lost): deny decisions with
    reason audit_unavailable; if the first failed write was the first refused connection's own
    write-ahead decision, that one reads allow, then a close with reason audit_unavailable by the
    gateway (0 bytes). The queue depth while full = the records written on recovery.
continue:
  * the file system full: connections keep working (echoed, upstream accepted), /readyz says 503
    "audit log unavailable", write errors counted, no audit_unavailable denial.
  * space freed: every record of the outage is written; the chain verifies.
fail_closed, a backlog bigger than the space freed (issue 17 item 11):
  * with the file system full and ~20 refused connections' records queued, one page (4 KiB) is
    freed: within a second the records that fit are written (whole lines: the file verifies) and
    a new connection is still refused (the rest of the backlog does not fit: fail-closed lasts as
    long as the outage). The writer used to retry its whole batch, which never fitted: nothing.
  * all space freed: /readyz 200 within ~1 s, a new connection allowed, every refused
    connection's record in the file, nothing dropped.
  * SIGTERM while the file system is full with records queued: egressd waits for the audit log
    (bounded, audit flush timeout 5 s) instead of giving the records up; space freed meanwhile:
    it exits 0, every queued record and gateway.stop written, no "could not be written".
Every record validates against docs/audit.schema.json.
"""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
import observe  # noqa: E402
from policies import LAB  # noqa: E402

TMPFS_SIZE = "256k"
PROBE = "probe\n"


class AuditFs:
    """A tmpfs mounted in a private mount namespace held by a sleeping process."""

    def __init__(self, t: harness.Case, name: str) -> None:
        self.inner = t.sb.dir / f"{name}-fs"  # the mount point (an empty directory outside)
        self.inner.mkdir()
        self.holder = t.sb.spawn(t.sb.gateway, f"{name}-holder", [
            "sh", "-c", 'mount -t tmpfs -o size="$1",mode=0755 egt-auditfs "$0" && : > "$0/.mounted" '
            '&& exec sleep 600', str(self.inner), TMPFS_SIZE])
        self.outer = Path(f"/proc/{self.holder.pid}/root{self.inner}")
        deadline = time.monotonic() + 10
        while not (self.outer / ".mounted").exists():
            if not self.holder.running() or time.monotonic() > deadline:
                raise harness.CheckFailed(f"tmpfs not mounted: {self.holder.stderr_text()}")
            time.sleep(0.02)
        t.check(str(self.inner) not in Path("/proc/self/mountinfo").read_text(),
                f"{name}: the tmpfs is not mounted in the test's (root) mount namespace")
        self.filler = self.outer / "fill"

    def prefix(self) -> list[str]:
        return ["nsenter", f"--mount=/proc/{self.holder.pid}/ns/mnt", "--"]

    def fill(self) -> int:
        """Writes a file until not even one more byte fits; returns its size."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        total = 0
        try:
            for size in (1 << 16, 4096, 1):
                block = b"\0" * size
                while True:
                    try:
                        total += os.write(fd, block)
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        return total

    def free(self) -> None:
        self.filler.unlink()

    def free_pages(self, pages: int) -> None:
        """Frees `pages` pages (4 KiB) of the filler, and any part of its last one."""
        size = self.filler.stat().st_size
        os.truncate(self.filler, max(0, (size // 4096 - pages) * 4096))


def verify(t: harness.Case, path) -> subprocess.CompletedProcess:
    return subprocess.run([t.args.egressctl, "audit", "verify", str(path)], capture_output=True,
                          text=True, timeout=60)


def start(t: harness.Case, fs: AuditFs, name: str, on_error: str):
    config_path, cfg, policy_dir, _ = observe.write_config(
        t.sb, {"policy.yaml": LAB}, {"audit": {"on_error": on_error}}, name,
        audit_path=str(fs.inner / "audit.jsonl"))
    return observe.spawn_egressd(t, config_path, cfg, policy_dir, fs.outer / "audit.jsonl", name,
                                 prefix=fs.prefix())


def probe(t: harness.Case) -> dict:
    # Sends once the read side waits, so a reset is seen as one (harness.check_denied).
    return t.client("--dst", "203.0.113.10:7", "--send", PROBE, "--delay-send", "0.2", "--shutdown",
                    "--timeout", "5")


def denied(r: dict) -> bool:
    return r["connected"] and r["recv_len"] == 0 and r["end"] == "reset"


def metrics(t: harness.Case, what: str):
    samples, _, errors = observe.scrape(t.sb)
    t.check(not errors, f"{what}: /metrics is valid Prometheus text", "; ".join(errors[:5]))
    return samples


def fail_closed(t: harness.Case, up) -> None:
    fs = AuditFs(t, "fail-closed")
    gw = start(t, fs, "egressd-fail-closed", "fail_closed")
    r = probe(t)
    t.check_eq(r["recv"], PROBE, "fail_closed: allowed while the disk has room")
    m = metrics(t, "fail_closed, healthy")
    t.check_eq((observe.value(m, "egressd_audit_write_errors_total"), observe.value(m, "egressd_audit_sink_healthy")),
               (0, 1), "fail_closed, healthy: no write errors, sink healthy")

    filled = fs.fill()
    print(f"info - filled the tmpfs with {filled} bytes")
    slack, first = 0, None
    for _ in range(40):
        before = len(up.accepts())
        r = probe(t)
        if r["recv"] == PROBE:
            slack += 1  # the audit file's last page still had room for this one's records
            continue
        first = r
        break
    t.require(first is not None, "fail_closed: once the file system is full, a connection is refused",
              f"40 connections all allowed")
    print(f"info - {slack} connection(s) still fitted into the audit file's last page")
    t.check(denied(first), "the first refused connection: client reset with 0 bytes", str(first))
    t.check_eq(len(up.accepts()), before, "the upstream accepted nothing for it")
    refused = [first]
    for i in range(3):
        before = len(up.accepts())
        r = probe(t)
        t.check(denied(r), f"while full: connection {i + 2} reset with 0 bytes", str(r))
        t.check_eq(len(up.accepts()), before, f"while full: upstream accepted nothing for connection {i + 2}")
        refused.append(r)

    rz = observe.admin_get(t.sb, "/readyz")
    t.check(rz["status"] == 503 and "audit log unavailable" in rz["body"],
            "while full: /readyz 503 naming the audit log", str(rz))
    t.check_eq(observe.admin_get(t.sb, "/healthz")["status"], 200, "while full: /healthz still 200 (alive)")
    m = metrics(t, "fail_closed, full")
    t.check(observe.value(m, "egressd_audit_write_errors_total") > 0, "while full: write errors counted",
            str(observe.value(m, "egressd_audit_write_errors_total")))
    t.check_eq(observe.value(m, "egressd_audit_sink_healthy"), 0, "while full: egressd_audit_sink_healthy 0")
    denials = observe.value(m, "egressd_connections_total", decision="deny", reason="audit_unavailable")
    late = observe.value(m, "egressd_connections_closed_total", reason="audit_unavailable")
    t.check(denials >= len(refused) - 1 and denials + late == len(refused),
            f"while full: the {len(refused)} refusals counted (denied with audit_unavailable, or - the one whose "
            "write-ahead decision failed - closed with it)", f"denied {denials}, closed {late}")
    depth = observe.value(m, "egressd_audit_queue_depth")
    t.check(depth >= len(refused), "while full: the refused connections' records wait in the queue", str(depth))
    t.check_eq(observe.value(m, "egressd_audit_records_dropped_total"), 0, "while full: nothing dropped")
    v = verify(t, gw.audit_path)
    t.check(v.returncode == 0, "while full: the audit file verifies (no torn line)", v.stdout + v.stderr)
    recs = gw.records()
    t.check(not any(audit.matching(recs, src=r["local"]) for r in refused),
            "while full: the refused connections' records are not in the file yet")

    fs.free()
    rz = observe.wait_readyz(t.sb, 200, timeout=5)
    t.check_eq(rz["status"], 200, "space freed: /readyz 200 again by itself", str(rz))
    m = metrics(t, "fail_closed, recovered")
    t.check_eq((observe.value(m, "egressd_audit_sink_healthy"), observe.value(m, "egressd_audit_queue_depth"),
                observe.value(m, "egressd_audit_records_dropped_total")), (1, 0, 0),
               "space freed: sink healthy, queue empty, nothing dropped")
    t.check_eq(len(gw.records()) - len(recs), depth, "space freed: exactly the records that waited are written")
    r = probe(t)
    t.check_eq(r["recv"], PROBE, "space freed: connections allowed again")

    for i, r in enumerate(refused, 1):
        d = gw.wait_records(event="connection.decision", src=r["local"])
        c = audit.matching(gw.records(), event="connection.close", src=r["local"])
        ok_deny = (len(d) == 1 and d[0]["decision"] == "deny" and d[0]["reason"] == "audit_unavailable"
                   and audit.endpoint(d[0].get("dst")) == "203.0.113.10:7" and not c)
        # The one whose own write-ahead decision hit the full disk: allowed by the policy, then
        # closed by the gateway before any upstream connect.
        ok_late = (i == 1 and len(d) == 1 and d[0]["decision"] == "allow" and len(c) == 1
                   and c[0]["reason"] == "audit_unavailable" and c[0]["closed_by"] == "gateway"
                   and c[0]["bytes_up"] == 0 and c[0]["bytes_down"] == 0)
        t.check(ok_deny or ok_late, f"refused connection {i}: its records are in the file after the outage "
                "(deny audit_unavailable, or allow + close audit_unavailable by the gateway)",
                "\n      ".join(audit.pretty(x) for x in d + c) or "no record")
    t.check_eq(gw.terminate(), 0, "fail_closed: egressd exits 0 on SIGTERM")
    v = verify(t, gw.audit_path)
    t.check(v.returncode == 0, "fail_closed: the audit file verifies after the outage", v.stdout + v.stderr)
    observe.check_schema(t, gw.records(), "fail_closed")


def on_error_continue(t: harness.Case, up) -> None:
    fs = AuditFs(t, "continue")
    gw = start(t, fs, "egressd-continue", "continue")
    r = probe(t)
    t.check_eq(r["recv"], PROBE, "continue: allowed while the disk has room")
    fs.fill()
    outage = []
    for _ in range(40):
        r = probe(t)
        outage.append(r)
        if r["recv"] != PROBE:
            break
        if observe.value(metrics(t, "continue, filling"), "egressd_audit_write_errors_total") > 0:
            break
    t.check(all(r["recv"] == PROBE for r in outage), "continue: every connection allowed while the disk fills",
            str([r for r in outage if r["recv"] != PROBE][:1]))
    t.require(observe.value(metrics(t, "continue"), "egressd_audit_write_errors_total") > 0,
              "continue: the audit writes fail (the file system is full)")
    for i in range(3):
        before = len(up.accepts())
        r = probe(t)
        outage.append(r)
        t.check_eq(r["recv"], PROBE, f"continue, full: connection {i + 1} echoed")
        t.check_eq(len(up.accepts()), before + 1, f"continue, full: upstream accepted connection {i + 1}")
    rz = observe.admin_get(t.sb, "/readyz")
    t.check(rz["status"] == 503 and "audit log unavailable" in rz["body"],
            "continue, full: /readyz still says 503 audit log unavailable", str(rz))
    m = metrics(t, "continue, full")
    t.check_eq(observe.value(m, "egressd_connections_total", reason="audit_unavailable"), 0,
               "continue, full: no connection denied for the audit")
    t.check_eq(observe.value(m, "egressd_audit_sink_healthy"), 0, "continue, full: sink unhealthy")

    fs.free()
    t.check_eq(observe.wait_readyz(t.sb, 200, timeout=5)["status"], 200, "continue: /readyz 200 once space returns")
    for r in outage:
        gw.wait_records(event="connection.close", src=r["local"])
    recs = gw.records()
    lost = [r["local"] for r in outage
            if len(audit.matching(recs, event="connection.decision", src=r["local"], decision="allow")) != 1
            or len(audit.matching(recs, event="connection.close", src=r["local"], reason="eof")) != 1]
    t.check(not lost, f"continue: all {len(outage)} connections of the outage have their decision and close "
            "records once space returns", str(lost[:5]))
    t.check_eq(gw.terminate(), 0, "continue: egressd exits 0 on SIGTERM")
    v = verify(t, gw.audit_path)
    t.check(v.returncode == 0, "continue: the audit file verifies", v.stdout + v.stderr)
    observe.check_schema(t, gw.records(), "continue")


def refuse_until_full(t: harness.Case, fs: AuditFs, what: str) -> list[dict]:
    """Fills the file system, then connects until one is refused; returns the refused one."""
    fs.fill()
    for _ in range(40):
        r = probe(t)
        if r["recv"] != PROBE:
            t.check(denied(r), f"{what}: once full, a connection is reset with 0 bytes", str(r))
            return [r]
    t.require(False, f"{what}: once the file system is full, a connection is refused", "40 allowed")
    return []


def backlog_bigger_than_the_room(t: harness.Case, up) -> None:
    fs = AuditFs(t, "partial")
    gw = start(t, fs, "egressd-partial", "fail_closed")
    t.check_eq(probe(t)["recv"], PROBE, "partial: allowed while the disk has room")
    refused = refuse_until_full(t, fs, "partial")
    for _ in range(20):  # ~20 deny records (~8 KiB) queued behind the failed write
        refused.append(probe(t))
    t.check(all(denied(r) for r in refused), f"partial: all {len(refused)} connections refused while full",
            str([r for r in refused if not denied(r)][:1]))
    before = len(gw.records())

    fs.free_pages(1)
    deadline = time.monotonic() + 1.5
    while len(gw.records()) < before + 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # let the writer use all the room
    after = len(gw.records())
    print(f"info - one page freed: {after - before} queued record(s) written, {len(refused)} refused")
    t.check(after >= before + 4, "one page freed: the queued records that fit are written within ~1 s "
            "(whole records, not the whole batch or nothing)", f"{after - before} written")
    v = verify(t, gw.audit_path)
    t.check(v.returncode == 0, "one page freed: the file verifies (no torn line)", v.stdout + v.stderr)
    before_up = len(up.accepts())
    r = probe(t)
    refused.append(r)
    t.check(denied(r), "one page freed, backlog still bigger: a new connection is still refused", str(r))
    t.check_eq(len(up.accepts()), before_up, "... and the upstream accepted nothing for it")

    fs.free()
    rz = observe.wait_readyz(t.sb, 200, timeout=2)
    t.check_eq(rz["status"], 200, "all space freed: /readyz 200 within ~1 s", str(rz))
    r = probe(t)
    t.check_eq(r["recv"], PROBE, "all space freed: connections allowed again")
    m = metrics(t, "partial, recovered")
    t.check_eq((observe.value(m, "egressd_audit_queue_depth"), observe.value(m, "egressd_audit_records_dropped_total")),
               (0, 0), "all space freed: queue empty, nothing dropped")
    recs = gw.records()
    missing = [x["local"] for x in refused if not audit.matching(recs, event="connection.decision", src=x["local"])]
    t.check(not missing, f"all space freed: the decision records of all {len(refused)} refused connections are "
            "in the file", str(missing[:5]))

    # SIGTERM with records queued on a full file system: egressd waits for them (bounded).
    queued = refuse_until_full(t, fs, "shutdown")
    for _ in range(3):
        queued.append(probe(t))
    gw.proc.signal(signal.SIGTERM)
    time.sleep(1.0)
    t.check(gw.proc.running(), "SIGTERM, file system full: egressd waits for the audit log to take the queued "
            "records", gw.stderr()[-600:])
    fs.free()
    try:
        rc = gw.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        rc = None
    t.check_eq(rc, 0, "SIGTERM: egressd exits 0 once the records are written")
    err = gw.stderr()
    t.check("could not be written" not in err, "SIGTERM: no record \"could not be written\"",
            "\n".join(x for x in err.splitlines() if "audit" in x)[-800:])
    recs = gw.records()
    missing = [x["local"] for x in queued if not audit.matching(recs, event="connection.decision", src=x["local"])]
    t.check(not missing, f"SIGTERM: the records of the {len(queued)} connections refused before it are written",
            str(missing))
    t.check_eq([x.get("event") for x in recs][-1:], ["gateway.stop"], "SIGTERM: gateway.stop is the last record")
    v = verify(t, gw.audit_path)
    t.check(v.returncode == 0, "partial: the audit file verifies after all", v.stdout + v.stderr)
    observe.check_schema(t, recs, "partial")


def run(t: harness.Case) -> None:
    t.require(bool(t.args.egressctl), "egressctl is built (audit verify)")
    up = t.upstream("echo", ["203.0.113.10:7"])
    fail_closed(t, up)
    on_error_continue(t, up)
    backlog_bigger_than_the_room(t, up)


if __name__ == "__main__":
    harness.main(run, watchdog_s=240)
