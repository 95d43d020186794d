#!/usr/bin/env python3
"""audit.on_overflow: drop, with a sink made slow on purpose: dropped records are counted, never silent.

The audit log goes to stdout (`audit.path: "-"`), which is a FIFO whose reader (this test) has
shrunk the pipe to one page and stops reading. The writer thread then blocks inside write(2) and
the queue (`audit.queue_capacity: 4`) fills: with `drop`, further records are dropped and the
connections go on. 40 connections at once, then the reader resumes:
  * every connection was echoed (drop never refuses nor holds a connection for good);
  * egressd_audit_records_dropped_total D > 0, and the records written later carry
    `records_dropped` fields that add up to exactly D;
  * accounting: records in the stream + D = every record the gateway had to write (gateway.start,
    a decision and a close per connection, gateway.stop), and written_total + D agrees;
  * the stream verifies (a dropped record never got a seq, so the chain has no hole) and every
    record validates against docs/audit.schema.json.
"""

import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
import observe  # noqa: E402
from policies import LAB  # noqa: E402

CONNECTIONS = 40


def run(t: harness.Case) -> None:
    t.require(bool(t.args.egressctl), "egressctl is built (audit verify)")
    up = t.upstream("echo", ["203.0.113.10:7"])
    fifo = observe.AuditFifo(t.sb.dir, pipe_size=4096)
    try:
        body(t, up, fifo)
    finally:
        fifo.finish()


def body(t: harness.Case, up, fifo: observe.AuditFifo) -> None:
    stream, reader = fifo.out, fifo
    config_path, cfg, policy_dir, _ = observe.write_config(
        t.sb, {"policy.yaml": LAB}, {"audit": {"path": "-", "on_overflow": "drop", "queue_capacity": 4}},
        "egressd", audit_path="-")
    gw = observe.spawn_egressd(t, config_path, cfg, policy_dir, stream, "egressd", prefix=fifo.prefix())
    t.require(bool(gw.wait_records(event="gateway.start")), "gateway.start arrives through the FIFO")
    print(f"info - pipe buffer {fifo.pipe_size} bytes")

    reader.paused.set()
    many = t.client_bg("many", "--dst", "203.0.113.10:7", "--concurrent", str(CONNECTIONS), "--hold", "0.2",
                       "--timeout", "30")
    deadline = time.monotonic() + 15
    dropped = 0
    while time.monotonic() < deadline and dropped == 0:
        samples, _, _ = observe.scrape(t.sb)
        dropped = observe.value(samples, "egressd_audit_records_dropped_total")
        time.sleep(0.1)
    t.require(dropped > 0, "with the sink stalled and a queue of 4, records are dropped (counted in the metric)")
    stalled = observe.scrape(t.sb)[0]
    t.check(observe.value(stalled, "egressd_audit_queue_depth") >= 1,
            "while stalled: the queue is not empty", str(observe.value(stalled, "egressd_audit_queue_depth")))
    t.check_eq(observe.admin_get(t.sb, "/readyz")["status"], 200,
               "while stalled: /readyz 200 (a slow sink is not a failing one)")
    reader.paused.clear()

    res = t.client_result(many, timeout=60)
    t.check_eq((res["opened"], res["ok"]), (CONNECTIONS, CONNECTIONS),
               f"all {CONNECTIONS} connections echoed: drop never refuses a connection", str(res))
    r = t.client("--dst", "203.0.113.10:7", "--send", "after\n", "--shutdown", "--timeout", "5")
    t.check_eq(r["recv"], "after\n", "a connection after the stall is echoed")
    t.check_record(t.gateways[0], "its decision is written", event="connection.decision", src=r["local"])
    t.check_record(t.gateways[0], "its close is written", event="connection.close", src=r["local"])

    deadline = time.monotonic() + 5
    while True:
        m, _, errors = observe.scrape(t.sb)
        if observe.value(m, "egressd_audit_queue_depth") == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    t.check(not errors, "/metrics is valid Prometheus text", "; ".join(errors[:5]))
    d_total = int(observe.value(m, "egressd_audit_records_dropped_total"))
    written = int(observe.value(m, "egressd_audit_records_written_total"))
    t.check_eq(observe.value(m, "egressd_audit_write_errors_total"), 0, "a slow sink is no write error")
    print(f"info - dropped {d_total}, written {written}")

    t.check_eq(gw.terminate(), 0, "egressd exits 0 on SIGTERM")
    fifo.finish()
    records = audit.load(stream)
    conns = CONNECTIONS + 1
    expected = 1 + 2 * conns + 1  # gateway.start, decision + close each, gateway.stop
    reported = sum(r.get("records_dropped", 0) for r in records)
    carriers = [r["seq"] for r in records if "records_dropped" in r]
    print(f"info - records_dropped carried by seq {carriers[:10]}")
    t.check_eq(reported, d_total, "the records_dropped fields add up to the dropped counter")
    t.check_eq(len(records) + d_total, expected,
               f"records written + dropped = every record due ({expected}: start, {conns} decisions and "
               "closes, stop)")
    t.check_eq(written + d_total, expected - 1, "written_total + dropped_total = every record due before the stop")
    t.check_eq([r["seq"] for r in records], list(range(1, len(records) + 1)), "seq has no hole: drops never take one")
    v = subprocess.run([t.args.egressctl, "audit", "verify", str(stream)], capture_output=True, text=True,
                       timeout=60)
    t.check(v.returncode == 0, "the stream verifies", v.stdout + v.stderr)
    observe.check_schema(t, records, "overflow")
    t.check(len(up.accepts()) == conns, f"the upstream accepted all {conns} connections", str(len(up.accepts())))


if __name__ == "__main__":
    harness.main(run, watchdog_s=90)
