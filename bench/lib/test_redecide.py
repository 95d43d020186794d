"""Unit tests of the redecide workloads' reading and judging (run by `bench/run.sh --check`): the
HTTP answers the clients count, the probe's windows, the audit's reload counts, what makes a run
worthless, the absolute targets of issue 21 and their table."""

from __future__ import annotations

import json
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redecide  # noqa: E402
import report  # noqa: E402
import targets  # noqa: E402
from redecide_client import response_end  # noqa: E402

T0 = 1_800_000_000.0
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 19\r\nContent-Type: text/plain\r\n\r\nok 203.0.113.20:80\n"


def ts(offset_s: float) -> str:
    import datetime
    return datetime.datetime.fromtimestamp(T0 + offset_s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def settled(revoked=4, kept=2, resets=None, kept_ended=0, answered=None) -> dict:
    ends = [T0 + 0.010 * (i + 1) for i in range(revoked)]
    return {"phase": "settled", "go": T0 + 0.001, "settled": T0 + 1, "early_ends": 0,
            "revoked": {"count": revoked, "ended": revoked, "how": {"reset": revoked if resets is None else resets},
                        "ends": ends, "answers": revoked},
            "kept": {"count": kept, "ended": kept_ended, "how": {}, "ends": [], "answers": 2 * kept},
            "kept_answered_during": kept if answered is None else answered}


def done(kept=2, answered=None) -> dict:
    return {"phase": "done", "kept": {"count": kept, "ended": 0, "how": {}, "answers": 3 * kept},
            "kept_answered_after": kept if answered is None else answered}


PROBE = {"held": [[T0 - 0.5, 0.2], [T0 - 0.1, 0.4], [T0 - 0.0001, 30.0], [T0 + 0.02, 5.0], [T0 + 0.2, 1.0]],
         "new": [[T0 + 0.01, 12.0]], "errors": []}


def audit_lines(revoked=4, redecided=14, reload_revoked=4, result="ok", unanswered=None) -> list[str]:
    part = {"result": result, "redecided": redecided, "revoked": reload_revoked}
    if unanswered:
        part["redecide_unanswered"] = unanswered
    recs = [{"event": "connection.decision", "reason": "rule", "ts": ts(-5)}]
    recs += [{"event": "connection.close", "reason": "policy_revoked", "ts": ts(0.01 * (i + 1))} for i in range(revoked)]
    recs += [{"event": "connection.close", "reason": "eof", "ts": ts(0.5)},
             {"event": "policy.reload", "result": result, "ts": ts(0.045), "parts": {"policy": part}}]
    return [json.dumps(r) for r in recs] + ['{"torn']


class Reading(unittest.TestCase):
    def test_response_end_waits_for_the_whole_body(self):
        self.assertEqual(response_end(ANSWER), len(ANSWER))
        self.assertEqual(response_end(ANSWER[:-1]), 0)
        self.assertEqual(response_end(ANSWER[:20]), 0)
        self.assertEqual(response_end(ANSWER + ANSWER[:5]), len(ANSWER))

    def test_probe_windows(self):
        before, during = redecide.probe_windows(PROBE["held"], T0, T0 + 0.1)
        self.assertEqual(before, [0.2, 0.4])
        # the round trip in flight at the reload counts; the one after the last reset does not
        self.assertEqual(during, [30.0, 5.0])
        self.assertEqual(redecide.percentile([1, 2, 3, 4], 99), 4)
        self.assertEqual(redecide.percentile(list(range(1, 201)), 50), 100)
        self.assertIsNone(redecide.percentile([], 99))

    def test_read_audit(self):
        a = redecide.read_audit(audit_lines(), T0)
        self.assertEqual((a["reloads"], a["reload_result"], a["redecided"], a["revoked"]), (1, "ok", 14, 4))
        self.assertEqual(a["close_policy_revoked"], 4)
        self.assertAlmostEqual(a["audit_last_close_ms"], 40.0, places=2)
        self.assertAlmostEqual(a["reload_record_ms"], 45.0, places=2)

    def test_metrics(self):
        m = redecide.metrics(T0, settled(), done(), PROBE, redecide.read_audit(audit_lines(), T0))
        self.assertEqual((m["connections"], m["revoked_conns"], m["resets_seen"], m["kept_conns"]), (6, 4, 4, 2))
        self.assertAlmostEqual(m["reload_to_first_close_ms"], 10.0, places=2)
        self.assertAlmostEqual(m["reload_to_last_close_ms"], 40.0, places=2)
        self.assertEqual((m["probe_before_max_ms"], m["probe_during_max_ms"], m["probe_during_samples"]), (0.4, 30.0, 2))
        self.assertEqual(m["probe_new_conn_during_max_ms"], 12.0)
        self.assertEqual((m["redecided"], m["revoked"], m["close_policy_revoked"]), (14, 4, 4))

    def test_busiest_thread(self):
        before = {1: (0, 0), 2: (100_000_000, 5_000_000), 3: (0, 0)}
        after = {1: (10_000_000, 1_000_000), 2: (250_000_000, 405_000_000), 4: (1_000_000, 0)}
        b = redecide.busiest_thread(before, after)
        self.assertEqual((b["busiest_thread_cpu_ms"], b["busiest_thread_runqueue_ms"]), (150.0, 400.0))
        self.assertEqual((b["threads_cpu_ms"], b["threads_runqueue_ms"]), (161.0, 401.0))


class Problems(unittest.TestCase):
    def check(self, s=None, d=None, probe=PROBE, lines=None) -> list[str]:
        audit = redecide.read_audit(lines if lines is not None else audit_lines(), T0)
        return redecide.problems(s or settled(), d or done(), probe, audit)

    def test_a_good_run_has_none(self):
        self.assertEqual(self.check(), [])
        self.assertEqual(redecide.problems(settled(), done(), PROBE, None), [])  # audit to /dev/null

    def test_a_revoked_connection_not_ended(self):
        s = settled(resets=3)
        s["revoked"]["ended"] = 3
        self.assertIn("of 4 revoked connections {'reset': 3} ended (1 still open)", self.check(s=s)[0])
        s = settled(resets=3)
        s["revoked"]["how"]["error: [Errno 110] timed out"] = 1
        self.assertTrue(self.check(s=s))

    def test_an_eof_instead_of_a_reset_is_counted_not_fatal(self):
        s = settled(resets=3)
        s["revoked"]["how"]["eof"] = 1
        s["revoked"]["eof_then_reset"] = 1
        self.assertEqual(self.check(s=s), [])
        m = redecide.metrics(T0, s, done(), PROBE, None)
        self.assertEqual((m["resets_seen"], m["revoked_seen_eof"], m["revoked_eof_then_reset"]), (3, 1, 1))

    def test_a_kept_connection_closed_or_silent(self):
        self.assertTrue(self.check(s=settled(kept_ended=1)))
        self.assertIn("1 answered during", self.check(s=settled(answered=1))[0])
        self.assertIn("0 after it", self.check(d=done(answered=0))[0])

    def test_probe_errors(self):
        self.assertIn("probe:", self.check(probe=dict(PROBE, errors=["held connection 3: reset"]))[0])

    def test_audit_counts(self):
        self.assertIn("result failed", self.check(lines=audit_lines(result="failed"))[0])
        self.assertIn("3 policy_revoked close records", self.check(lines=audit_lines(revoked=3))[0])
        self.assertIn("revoked 3", self.check(lines=audit_lines(reload_revoked=3))[0])
        self.assertIn("redecided 5", self.check(lines=audit_lines(redecided=5))[0])
        # a worker that did not answer in 2 s leaves the counts short: a figure, not a broken run
        self.assertEqual(self.check(lines=audit_lines(redecided=5, reload_revoked=2, unanswered=1)), [])


def results(conns: int, last_ms: float, pause_ms: float) -> dict:
    median = {"connections": conns, "revoked_conns": conns, "reload_to_last_close_ms": last_ms,
              "probe_during_max_ms": pause_ms, "redecided": conns + 8}
    return {"redecide_conns": conns, "proxies": {
        "egressd": {"workloads": {"redecide_10k": {"median": median}}},
        "haproxy": {"workloads": {"redecide_10k": {"skipped": "haproxy does not re-decide live connections"}}}}}


def redecide_verdicts(r: dict) -> dict[str, dict]:
    return {v["target"]: v for v in targets.verdicts(r) if v["target"].startswith("redecide_10k:")}


LAST, PAUSE = (t.name for t in targets.TARGETS if t.workload == "redecide_10k")


class RedecideTargets(unittest.TestCase):
    def test_absolute_bounds(self):
        v = redecide_verdicts(results(10000, 640.0, 320.0))
        self.assertEqual((v[LAST]["value"], v[LAST]["unit"], v[LAST]["met"]), (640.0, "ms", True))
        self.assertEqual((v[PAUSE]["value"], v[PAUSE]["met"]), (320.0, False))
        self.assertNotIn("judged_on", v[LAST])
        v = redecide_verdicts(results(10000, 1200.0, 40.0))
        self.assertFalse(v[LAST]["met"])
        self.assertTrue(v[PAUSE]["met"])

    def test_judged_near_10k_and_said_so_not_on_a_smoke_run(self):
        v = redecide_verdicts(results(9900, 640.0, 20.0))
        self.assertTrue(v[LAST]["met"])
        self.assertIn("9,900 connections", v[LAST]["judged_on"])
        v = redecide_verdicts(results(1000, 60.0, 20.0))
        self.assertIsNone(v[LAST]["met"])
        self.assertIn("not judged: 1,000 connections held", v[LAST]["pending"])

    def test_report(self):
        r = results(9900, 640.0, 320.0)
        r.update(date="d", git="g", quick=False, runs=3, threads=2, egressd={"audit": "a"},
                 machine={"cpu": "c", "cores": 2, "mem_gib": 1, "kernel": "k", "haproxy": "h", "openssl": "o",
                          "loadavg_at_start": ["1", "1", "1"]})
        md = report.markdown(r)
        self.assertIn("| figure | redecide_10k (egressd) |", md)
        self.assertIn("| reload → last client reset, ms | 640.0 |", md)
        self.assertIn("| policy.reload: redecided | 9,908 |", md)
        self.assertIn(f"| {LAST} | 640.0 ms | met (judged on 9,900 connections held) |", md)
        self.assertIn(f"| {PAUSE} | 320.0 ms | **not met** (judged on 9,900 connections", md)
        self.assertNotIn("| redecide_10k | ", md)  # not in the egressd/HAProxy/direct table


if __name__ == "__main__":
    unittest.main()
