"""Unit tests of the target judging and the report (run by `bench/run.sh --check`): issue 19's
targets are judged on egressd's hostname rule when measured, on its CIDR-only rule (and said so)
until then, and the name cost is reported pending rather than invented; issue 20's are judged
against Squid's CONNECT and against the gateway's own conn_rate_mtls / throughput_mtls of the same
run, and are pending (not invented, not failed) while egressd cannot run the subject."""

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


def issue20_results(figures: dict[tuple[str, str], dict], pending: tuple[str, ...] = ()) -> dict:
    """{(subject, workload): median} -> results; pending subjects as the harness records them."""
    proxies: dict = {}
    for (subject, workload), median in figures.items():
        proxies.setdefault(subject, {"workloads": {}})["workloads"][workload] = {"median": median}
    proxies.update({name: {"pending": "pending: ... (egressd --check-config: ...)"} for name in pending})
    return {"proxies": proxies}


CONNECT_RATE, CONNECT_CPU, AGENT_CPU, TUNNEL_BULK = (
    t.name for t in targets.TARGETS if t.workload in ("connect_rate", "agent_rate", "tunnel_bulk"))
SQUID_CONNECT = {"conn_per_s": 3000.0, "proxy_cpu_s_per_op": 180e-6}
GATEWAY_ALONE = {("egressd", "conn_rate_mtls"): {"conn_per_s": 300.0, "proxy_cpu_s_per_op": 1200e-6},
                 ("egressd", "throughput_mtls"): {"gbit_per_s": 4.0, "proxy_cpu_s_per_op": 1.3}}


def verdict_of(r: dict) -> dict[str, dict]:
    return {v["target"]: v for v in targets.verdicts(r)}


class ConnectTargets(unittest.TestCase):
    def test_pending_while_egressd_cannot_run_them(self):
        r = issue20_results({("squid-connect", "connect_rate"): SQUID_CONNECT, **GATEWAY_ALONE},
                            pending=("egressd-connect", "egressd-agent"))
        v = verdict_of(r)
        for name in (CONNECT_RATE, CONNECT_CPU):
            self.assertIsNone(v[name]["value"])
            self.assertEqual(v[name]["pending"], "pending: CONNECT listener not built")
        for name in (AGENT_CPU, TUNNEL_BULK):
            self.assertEqual(v[name]["pending"], "pending: agent not built")
        md = "\n".join(targets.markdown(r))
        self.assertIn(f"| {CONNECT_RATE} | — | pending: CONNECT listener not built |", md)

    def test_a_subject_that_failed_is_not_reported_pending(self):
        r = issue20_results({("squid-connect", "connect_rate"): SQUID_CONNECT, **GATEWAY_ALONE})
        r["proxies"]["egressd-agent"] = {"error": "egressd-agent: FAILED: ..."}
        r["proxies"]["egressd-connect"] = {"workloads": {"connect_rate": {"error": "connect_client: 3 failed"}}}
        v = verdict_of(r)
        self.assertEqual(v[AGENT_CPU]["pending"], "egressd-agent failed (see Failures)")
        self.assertEqual(v[CONNECT_CPU]["pending"], "egressd-connect failed (see Failures)")

    def test_connect_rate_against_squid(self):
        v = verdict_of(issue20_results({("squid-connect", "connect_rate"): SQUID_CONNECT,
                                        ("egressd-connect", "connect_rate"): {"conn_per_s": 9600.0,
                                                                              "proxy_cpu_s_per_op": 54e-6}}))
        self.assertAlmostEqual(v[CONNECT_RATE]["value"], 3.2)
        self.assertTrue(v[CONNECT_RATE]["met"])
        self.assertAlmostEqual(v[CONNECT_CPU]["value"], 0.30)
        self.assertTrue(v[CONNECT_CPU]["met"])
        v = verdict_of(issue20_results({("squid-connect", "connect_rate"): SQUID_CONNECT,
                                        ("egressd-connect", "connect_rate"): {"conn_per_s": 8000.0,
                                                                              "proxy_cpu_s_per_op": 90e-6}}))
        self.assertFalse(v[CONNECT_RATE]["met"])  # 2.67 < 3
        self.assertFalse(v[CONNECT_CPU]["met"])  # 0.5 > 0.33

    def test_agent_judged_against_the_gateway_alone_of_the_same_run(self):
        r = issue20_results({**GATEWAY_ALONE,
                             ("egressd-agent", "agent_rate"): {"conn_per_s": 2000.0, "proxy_cpu_s_per_op": 2000e-6,
                                                               "agent_cpu_s_per_op": 800e-6,
                                                               "gateway_cpu_s_per_op": 1200e-6},
                             ("egressd-agent", "tunnel_bulk"): {"gbit_per_s": 3.4, "proxy_cpu_s_per_op": 2.5}})
        v = verdict_of(r)
        self.assertAlmostEqual(v[AGENT_CPU]["value"], 2000 / 1200)  # conn_rate_mtls, not agent_rate
        self.assertTrue(v[AGENT_CPU]["met"])
        self.assertAlmostEqual(v[TUNNEL_BULK]["value"], 0.85)  # gbit/s against throughput_mtls's
        self.assertFalse(v[TUNNEL_BULK]["met"])
        r.update(date="d", git="g", quick=True, runs=1, threads=2, egressd={"audit": "a"},
                 machine={"cpu": "c", "cores": 2, "mem_gib": 1, "kernel": "k", "haproxy": "h", "openssl": "o",
                          "loadavg_at_start": ["1", "1", "1"]})
        md = report.markdown(r)
        self.assertIn("| CPU µs/conn (all proxy processes) | 2,000 | agent_rate | 1,200 | conn_rate_mtls | 1.67 |", md)
        self.assertIn("| of which the agent, µs/conn | 800.0 | agent_rate | — | conn_rate_mtls | — |", md)
        self.assertIn("| Gbit/s | 3.4 | tunnel_bulk | 4 | throughput_mtls | 0.85 |", md)
        # issue 20's workloads have their own table, not rows of the main one
        self.assertNotIn("conn_rate_mtls_resumed", md)  # not measured in this run
        r["proxies"]["egressd"]["workloads"]["conn_rate_mtls_resumed"] = {"median": {"proxy_cpu_s_per_op": 500e-6}}
        md = report.markdown(r)
        self.assertIn("| CPU µs/conn (all proxy processes) | 2,000 | agent_rate | 500.0 | conn_rate_mtls_resumed | 4.00 |",
                      md)
        self.assertNotIn("| agent_rate | connections/s", md)
        self.assertNotIn("Issue 20, CONNECT", md)  # connect_rate did not run


if __name__ == "__main__":
    unittest.main()
