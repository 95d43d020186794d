#!/usr/bin/env python3
"""Write-ahead, proven end to end: kill -9 under load loses no decision of a connection that
reached its upstream.

Load: short connections from the client namespace (32 at a time, lib/burst.py), each to its own
destination (one echo listener per port), so the upstream's accept log names each connection
exactly. Once the upstream has accepted enough, egressd gets SIGKILL. Then every connection the
upstream accepted must have its allow `connection.decision` in the audit log (its dst, src
192.0.2.2; the src port is the one the client's log names unless the REDIRECT's conntrack
remapped a reused client port, which is counted and shown).

A. The file sink (203.0.113.10:20000-20599, kill after 300 accepts). The file after SIGKILL: every
   line whole and `egressctl audit verify` passes; were the last line torn (death inside
   write(2)), verify must call it `malformed` at that line and the next start must cut it.
   egressd restarted on the file continues the chain (its gateway.start has the next seq and the
   last line's hash as prev). Then a torn tail made on purpose (a partial line appended): verify
   names it (malformed, file:line); the next start cuts it, says so, and verify passes again.
B. A slow sink (stdout into a FIFO read 4 KiB every 0.1 s; 203.0.113.20, kill after 100
   accepts): the connections wait for their records, and still none that reached the upstream
   lacks its decision in what the kernel had been handed (the FIFO's content).
C. Control, the same as B with `audit.write_ahead: false` (203.0.113.30): connections no longer
   wait, and the same check finds accepted connections without a record: the check can fail.
Every record validates against docs/audit.schema.json.
"""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
import observe  # noqa: E402
from policies import ROLE, SETTINGS, docs  # noqa: E402
from sandbox import CLIENT_V4, LIB_DIR, PYTHON  # noqa: E402

FILE_DSTS = [f"203.0.113.10:{p}" for p in range(20000, 20600)]
SLOW_DSTS = [f"203.0.113.20:{p}" for p in range(20000, 20300)]
CONTROL_DSTS = [f"203.0.113.30:{p}" for p in range(20000, 20300)]

POLICY = docs(SETTINGS, ROLE, """\
kind: Rule
id: load-allowed
action: allow
from: [{role: sandbox-clients}]
to: [{cidrs: [203.0.113.0/24], ports: ["20000-20999"]}]
""")


def verify(t: harness.Case, *files) -> subprocess.CompletedProcess:
    return subprocess.run([t.args.egressctl, "audit", "verify", *map(str, files)], capture_output=True,
                          text=True, timeout=60)


def kill_under_load(t: harness.Case, up, gw, dsts: list[str], kill_after: int, name: str) -> tuple[list, dict]:
    """Runs lib/burst.py over `dsts`, SIGKILLs egressd once the upstream accepted `kill_after` of
    them; returns (the upstream's accepts of these dsts, dst → the client's source endpoint)."""
    wanted = set(dsts)
    dst_file = t.sb.dir / f"{name}.dsts"
    dst_file.write_text("\n".join(dsts) + "\n")
    log_path = t.sb.dir / f"{name}.log.jsonl"
    burst = t.sb.spawn(t.sb.client, name, [PYTHON, str(LIB_DIR / "burst.py"), "--dst-file", str(dst_file),
                                           "--log", str(log_path), "--concurrency", "32",
                                           # Quiet for 20 ms first: at any moment about 32
                                           # connections are inside the relay, so the kill hits some.
                                           "--hold", "0.02"])

    def accepted() -> list[dict]:
        return [a for a in up.accepts() if a["local"] in wanted]

    def live() -> tuple[int, int]:
        """(connections the upstream accepted, of which still open)."""
        ev = [e for e in up.events() if e["local"] in wanted]
        n_acc = sum(1 for e in ev if e["event"] == "accept")
        return n_acc, n_acc - sum(1 for e in ev if e["event"] == "close")

    # Killed only while the upstream holds live connections: the kill lands in the middle of things.
    deadline = time.monotonic() + 30
    n_acc, n_open = live()
    while (n_acc < kill_after or n_open < 4) and time.monotonic() < deadline and burst.running():
        time.sleep(0.002)
        n_acc, n_open = live()
    at_kill = n_acc
    t.require(n_acc >= kill_after and n_open >= 4 and burst.running(),
              f"{name}: load running (upstream accepted >= {kill_after}, >= 4 of them open, the client still "
              "connecting)", f"accepted {n_acc}, open {n_open}, client running {burst.running()}")
    os.kill(gw.proc.pid, signal.SIGKILL)
    gw.proc.wait(timeout=5)
    t.check_eq(gw.proc.popen.returncode, -signal.SIGKILL, f"{name}: egressd died of SIGKILL under load")
    time.sleep(0.5)  # the client's remaining attempts fail fast now (nothing listens on :15001)
    burst.signal(signal.SIGTERM)
    burst.wait(timeout=10)
    time.sleep(0.5)  # the upstream accepts whatever its backlog still holds, and logs it
    log = audit.load(log_path)
    src_of = {e["dst"]: e["src"] for e in log if e["event"] == "connected"}
    acc = accepted()
    print(f"info - {name}: {len(acc)} upstream accepts ({at_kill} at the kill), {len(src_of)} client "
          f"connects, {sum(1 for e in log if e['event'] == 'done' and e['ok'])} echoed")
    return acc, src_of


def unrecorded(t: harness.Case, accepts: list[dict], src_of: dict, records: list[dict], name: str) -> list[str]:
    """The accepted connections without their allow decision record (matched by dst, unique per
    connection); prints how many carry the client's own source port."""
    by_dst: dict[str, list[dict]] = {}
    for r in audit.matching(records, event="connection.decision"):
        by_dst.setdefault(audit.endpoint(r.get("dst")), []).append(r)
    missing, remapped = [], 0
    t.check_eq(len({a["local"] for a in accepts}), len(accepts), f"{name}: each accept is its own destination")
    for a in accepts:
        src = src_of.get(a["local"])
        found = by_dst.get(a["local"], [])
        rec = found[0] if len(found) == 1 else None
        if (rec is None or rec.get("decision") != "allow" or rec.get("rule") != "load-allowed"
                or audit.host(rec.get("src")) != CLIENT_V4):
            missing.append(f"{src} -> {a['local']}: " + ("; ".join(audit.pretty(r) for r in found) or "no decision"))
        elif audit.endpoint(rec.get("src")) != src:
            remapped += 1
    closes = {r["conn_id"] for r in audit.matching(records, event="connection.close")}
    open_at_kill = [r for f in by_dst.values() for r in f if r["conn_id"] not in closes]
    print(f"info - {name}: {sum(map(len, by_dst.values()))} decision records, {len(closes)} close records, "
          f"{len(open_at_kill)} connections open at the kill; {remapped} decision(s) carry a source port the "
          "NAT remapped (client port reuse)")
    t.check(len(open_at_kill) > 0, f"{name}: the kill hit live connections (decisions without a close record)")
    return missing


def check_after_kill(t: harness.Case, path, name: str) -> None:
    """What SIGKILL left: whole lines that verify, or, when it struck inside write(2) (a large batch
    into a full pipe is written piecewise), a torn last line that verify names as malformed, at
    that line, after verifying every whole line before it (docs/audit.md: nobody was told a torn
    record was written, and the next start cuts it)."""
    raw = path.read_bytes()
    whole = raw.count(b"\n")
    v = verify(t, path)
    if raw.endswith(b"\n"):
        t.check(v.returncode == 0 and "audit verify: OK:" in v.stdout,
                f"{name}: what SIGKILL left verifies ({whole} records, every line whole)", v.stdout + v.stderr)
    else:
        torn_bytes = len(raw) - raw.rfind(b"\n") - 1
        print(f"info - {name}: SIGKILL struck inside write(2): {torn_bytes} bytes of a torn line")
        t.check(v.returncode == 1 and "(malformed)" in v.stdout and f"{path}:{whole + 1}:" in v.stdout
                and f"{whole} record(s) verified before the break" in v.stdout,
                f"{name}: a torn last line after SIGKILL: verify passes the {whole} whole lines and names the torn "
                "one as malformed", v.stdout + v.stderr)


def file_sink(t: harness.Case, up) -> None:
    gw = t.egressd({"policy.yaml": POLICY}, {"workers": 2})
    accepts, src_of = kill_under_load(t, up, gw, FILE_DSTS, 300, "file")
    raw = gw.audit_path.read_bytes()
    torn = not raw.endswith(b"\n")
    records = audit.load(gw.audit_path)  # whole lines only
    missing = unrecorded(t, accepts, src_of, records, "file")
    t.check(not missing, f"file: every one of the {len(accepts)} connections the upstream accepted has its allow "
            "decision record", f"{len(missing)} missing, e.g.\n      " + "\n      ".join(missing[:5]))

    check_after_kill(t, gw.audit_path, "file")
    last = records[-1]

    # --- restart on the same file: the chain continues ------------------------------------------
    gw2 = observe.spawn_egressd(t, gw.config_path, gw.config, gw.policy_dir, gw.audit_path, "egressd-restart")
    starts = gw2.wait_records(event="gateway.start", count=2)
    t.require(len(starts) == 2, "the restarted egressd writes its gateway.start to the same file")
    s = starts[-1]
    t.check_eq((s["seq"], s["prev"]),
               (last["seq"] + 1, hashlib.sha256(audit_line(gw.audit_path, last["seq"])).hexdigest()),
               "the restart's gateway.start continues the chain (next seq, prev = SHA-256 of the last line)")
    t.check(("torn last line" in gw2.stderr()) == torn, "the restart reports a torn last line exactly when there was one",
            gw2.stderr()[-500:])
    r = t.client("--dst", FILE_DSTS[-1], "--send", "after restart\n", "--shutdown", "--timeout", "5")
    t.check_eq(r["recv"], "after restart\n", "the restarted gateway relays")
    t.check_record(gw2, "the restarted gateway writes the new connection's decision",
                   event="connection.decision", src=r["local"], decision="allow")
    t.check_eq(gw2.terminate(), 0, "the restarted egressd exits 0 on SIGTERM")
    v = verify(t, gw.audit_path)
    t.check(v.returncode == 0, "verify passes over the crash and the restart", v.stdout + v.stderr)

    # --- a torn tail, made on purpose ------------------------------------------------------------
    whole = gw.audit_path.read_bytes()
    n_lines = whole.count(b"\n")
    final = audit.load(gw.audit_path)[-1]
    partial = json.dumps({"v": 1, "seq": final["seq"] + 1, "prev": "0" * 64,
                          "event": "connection.decision"}).encode()[:40]
    with open(gw.audit_path, "ab") as f:
        f.write(partial)
    v = verify(t, gw.audit_path)
    t.check(v.returncode == 1 and f"BROKEN at seq {final['seq'] + 1} (malformed)" in v.stdout
            and f"{gw.audit_path}:{n_lines + 1}:" in v.stdout,
            "a torn last line: verify exits 1 and names it (malformed, file:line)", v.stdout + v.stderr)
    gw3 = observe.spawn_egressd(t, gw.config_path, gw.config, gw.policy_dir, gw.audit_path, "egressd-torn")
    m = re.search(r"cut (\d+) byte\(s\) of a torn last line", gw3.stderr())
    t.check(m is not None and int(m.group(1)) == len(partial),
            f"egressd starting on it cuts the {len(partial)} torn bytes and says so", gw3.stderr()[-500:])
    t.check_eq(gw3.terminate(), 0, "egressd exits 0 on SIGTERM")
    after = gw.audit_path.read_bytes()
    t.check(partial not in after and after.startswith(whole), "the torn bytes are gone, the whole lines kept")
    v = verify(t, gw.audit_path)
    t.check(v.returncode == 0, "verify passes again", v.stdout + v.stderr)
    observe.check_schema(t, audit.load(gw.audit_path), "file sink")


def slow_sink(t: harness.Case, up, name: str, dsts: list[str], write_ahead: bool) -> tuple[list[str], int]:
    """egressd with its audit on a FIFO read 4 KiB every 0.1 s, killed under load; returns the
    accepted connections without a decision in what reached the FIFO."""
    fifo = observe.AuditFifo(t.sb.dir, name, pipe_size=4096, chunk=4096, delay=0.1)
    try:
        config_path, cfg, policy_dir, _ = observe.write_config(
            t.sb, {"policy.yaml": POLICY}, {"workers": 2, "audit": {"path": "-", "write_ahead": write_ahead}},
            f"egressd-{name}", audit_path="-")
        gw = observe.spawn_egressd(t, config_path, cfg, policy_dir, fifo.out, f"egressd-{name}",
                                   prefix=fifo.prefix())
        accepts, src_of = kill_under_load(t, up, gw, dsts, 100, name)
    finally:
        fifo.finish()  # everything the kernel had been handed
    records = audit.load(fifo.out)  # whole lines only
    check_after_kill(t, fifo.out, name)
    if not fifo.out.read_bytes().endswith(b"\n"):
        # The harness verifies every gateway's log at the end: keep the whole lines only there.
        gw.audit_path = fifo.out.with_name(fifo.out.name + ".whole")
        data = fifo.out.read_bytes()
        gw.audit_path.write_bytes(data[: data.rfind(b"\n") + 1])
    observe.check_schema(t, records, name)
    return unrecorded(t, accepts, src_of, records, name), len(accepts)


def run(t: harness.Case) -> None:
    t.require(bool(t.args.egressctl), "egressctl is built (audit verify)")
    up = t.upstream("echo", FILE_DSTS + SLOW_DSTS + CONTROL_DSTS, name="upstream-echo")
    file_sink(t, up)
    missing, n = slow_sink(t, up, "slow", SLOW_DSTS, write_ahead=True)
    t.check(not missing, f"slow sink: every one of the {n} connections the upstream accepted has its allow "
            "decision record", f"{len(missing)} missing, e.g.\n      " + "\n      ".join(missing[:5]))
    missing, n = slow_sink(t, up, "control", CONTROL_DSTS, write_ahead=False)
    t.check(len(missing) > 0, f"control (write_ahead: false, same slow sink): {len(missing)} of the {n} accepted "
            "connections have no record: without write-ahead this check fails", "none missing")


def audit_line(path, seq: int) -> bytes:
    """The exact bytes of the line with `seq` (without its newline)."""
    for line in path.read_bytes().split(b"\n"):
        if line and json.loads(line).get("seq") == seq:
            return line
    raise AssertionError(f"no line with seq {seq} in {path}")


if __name__ == "__main__":
    harness.main(run, watchdog_s=120, extra_v4=["203.0.113.30"])
