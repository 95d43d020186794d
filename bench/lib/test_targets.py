"""Unit tests of the target judging and the report (run by `bench/run.sh --check`): issue 19's
targets are judged on egressd's hostname rule when measured, on its CIDR-only rule (and said so)
until then, and the name cost is reported pending rather than invented."""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report  # noqa: E402
import targets  # noqa: E402


def results(cpu_us: dict[str, float], pending: tuple[str, ...] = ()) -> dict:
    proxies = {name: {"workloads": {"conn_rate_sni": {"median": {"proxy_cpu_s_per_op": us / 1e6,
                                                                 "conn_per_s": 100.0}}}}
               for name, us in cpu_us.items()}
    proxies.update({name: {"pending": "pending: name step not built (egressd --check-config: ...)"}
                    for name in pending})
    return {"proxies": proxies}


def sni_verdicts(r: dict) -> dict[str, dict]:
    return {v["target"]: v for v in targets.verdicts(r) if v["target"].startswith("conn_rate_sni")}


HAPROXY, SQUID, NAME_COST = (t.name for t in targets.TARGETS if t.workload == "conn_rate_sni")


class SniTargets(unittest.TestCase):
    def test_cidr_only_until_the_name_step_and_name_cost_pending(self):
        v = sni_verdicts(results({"egressd": 300, "haproxy": 400, "squid": 1000}, pending=("egressd-hosts",)))
        self.assertAlmostEqual(v[HAPROXY]["value"], 0.75)
        self.assertTrue(v[HAPROXY]["met"])
        self.assertIn("CIDR-only", v[HAPROXY]["judged_on"])
        self.assertAlmostEqual(v[SQUID]["value"], 0.30)
        self.assertTrue(v[SQUID]["met"])
        self.assertIsNone(v[NAME_COST]["value"])
        self.assertEqual(v[NAME_COST]["pending"], "pending: name step not built")

    def test_hostname_rule_judged_once_measured(self):
        v = sni_verdicts(results({"egressd": 300, "egressd-hosts": 360, "haproxy": 400, "squid": 1000}))
        self.assertAlmostEqual(v[HAPROXY]["value"], 0.9)
        self.assertNotIn("judged_on", v[HAPROXY])
        self.assertFalse(v[SQUID]["met"])  # 0.36 > 0.33
        self.assertAlmostEqual(v[NAME_COST]["value"], 1.2)
        self.assertFalse(v[NAME_COST]["met"])  # the name costs 20 % > 10 %

    def test_report_says_pending(self):
        r = results({"egressd": 300, "haproxy": 400, "squid": 1000, "direct": 0}, pending=("egressd-hosts",))
        r["proxies"]["direct"]["workloads"]["conn_rate_sni"]["median"].pop("proxy_cpu_s_per_op")
        r.update(date="d", git="g", quick=True, runs=1, threads=2, egressd={"audit": "a"},
                 machine={"cpu": "c", "cores": 2, "mem_gib": 1, "kernel": "k", "haproxy": "h", "openssl": "o",
                          "loadavg_at_start": ["1", "1", "1"]})
        md = report.markdown(r)
        self.assertIn("| proxy CPU µs/conn | 300.0 | pending | 400.0 | 1,000 | n/a | 0.75 | 0.30 | — |", md)
        self.assertIn(f"| {NAME_COST} | — | pending: name step not built |", md)


if __name__ == "__main__":
    unittest.main()
