"""Unit tests of what the harness reads from a subject (run by `bench/run.sh --check`)."""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402

from proxies import (AGENT_SUBJECT, BENCH_DIR, CONNECT_SUBJECT, HOSTNAME_RULE_SUBJECT, Direct, Egressd,  # noqa: E402
                     EgressdAgent, HAProxy)

# bench/lib/bench.py by its path: run from the repository, `bench` is the bench/ directory.
_spec = importlib.util.spec_from_file_location("bench_engine", Path(__file__).resolve().parent / "bench.py")
_engine = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_engine)
skip_reason = _engine.skip_reason


class EgressdHostnameSubject(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp())
        certs = {"gateway_cert": "g.pem", "gateway_key": "g.key", "ca": "ca.pem"}
        self.hosts = Egressd(Path("/nonexistent"), certs, 2, True, self.dir, HOSTNAME_RULE_SUBJECT)
        self.cidr = Egressd(Path("/nonexistent"), certs, 2, True, self.dir)

    def test_hostname_rule_config(self):
        cfg = self.hosts.config_text()
        self.assertIn("policy-hosts", cfg)
        self.assertIn('dns:\n  servers: ["203.0.113.10:53"]', cfg)
        self.assertIn("    peek: {timeout: 1s, max_bytes: 16KiB}", cfg)
        self.assertFalse(self.hosts.mtls or self.hosts.plain)
        self.assertTrue(self.hosts.decides_on_name)
        cidr = self.cidr.config_text()
        self.assertNotIn("dns:", cidr)
        self.assertNotIn("peek:", cidr)
        self.assertIn(f"dir: {Path(__file__).resolve().parent.parent / 'policy'}\n", cidr)
        self.assertFalse(self.cidr.decides_on_name)

    def test_decision_reasons_read_from_the_audit_file(self):
        records = [{"event": "connection.decision", "reason": "rule"},
                   {"event": "connection.close", "reason": "eof"},
                   {"event": "connection.decision", "reason": "name_mismatch"}]
        (self.dir / "audit.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + "{torn")
        self.assertEqual(self.hosts.decision_reasons(timeout=0), ["rule", "name_mismatch"])

    def test_redecide_workloads_configure_their_own_policy_and_limit(self):
        self.assertIn("  max_connections: 9500\n", self.cidr.config_text())
        self.cidr.policy_override, self.cidr.max_connections = self.dir / "redecide-policy", 10900
        cfg = self.cidr.config_text()
        self.assertIn(f"  dir: {self.dir / 'redecide-policy'}\n", cfg)
        self.assertIn("  max_connections: 10900\n", cfg)

    def test_redecide_workloads_run_on_egressd_alone(self):
        self.assertIsNone(skip_reason(self.cidr, "redecide_10k"))
        self.assertIsNone(skip_reason(self.cidr, "redecide_10k_half"))
        self.assertEqual(skip_reason(self.hosts, "redecide_10k"), "egressd-hosts does not re-decide live connections")
        haproxy = HAProxy({}, 2, "cn")
        self.assertEqual(skip_reason(haproxy, "redecide_10k"), "haproxy does not re-decide live connections")
        self.assertEqual(skip_reason(Direct(), "redecide_10k_half"), "direct does not re-decide live connections")


CERTS = {"gateway_cert": "g.pem", "gateway_key": "g.key", "ca": "ca.pem", "client_cert": "payments.pem",
         "client_key": "payments.key", "gateway_name": "egressd.local"}


class Issue20Subjects(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp())

    def test_connect_subject_is_one_plain_connect_listener_addressed_directly(self):
        e = Egressd(Path("/nonexistent"), CERTS, 2, False, self.dir, CONNECT_SUBJECT)
        cfg = yaml.safe_load(e.config_text())
        self.assertEqual(cfg["listeners"], [{"name": "connect", "address": "0.0.0.0:15004",
                                             "destination": "connect"}])
        self.assertEqual(cfg["policy"]["dir"], str(BENCH_DIR / "policy"))
        self.assertTrue(e.connect)
        self.assertFalse(e.plain or e.mtls or e.sni or e.redirect or e.agent)

    def test_agent_tunnels_over_mtls_to_the_gateways_connect_listener(self):
        a = EgressdAgent(Path("/nonexistent"), CERTS, 2, self.dir)
        gw = yaml.safe_load(a.gateway_config_text())
        self.assertEqual(gw["listeners"], [{"name": "connect-mtls", "address": "0.0.0.0:15005",
                                            "destination": "connect",
                                            "tls": {"mode": "required", "cert": "g.pem", "key": "g.key",
                                                    "client_ca": "ca.pem"}}])
        self.assertEqual(gw["policy"]["dir"], str(BENCH_DIR / "policy"))
        self.assertEqual(gw["audit"]["path"], str(self.dir / "gateway.jsonl"))
        agent = yaml.safe_load(a.agent_config_text())
        # the redirected ports: everything (15001) and 8443-8450 (15002), both transparent
        self.assertEqual([(l["address"], l["destination"]) for l in agent["listeners"]],
                         [("0.0.0.0:15001", "original_dst"), ("0.0.0.0:15002", "original_dst")])
        self.assertNotIn("tls", agent["listeners"][1])
        self.assertEqual(agent["upstream"]["via"], {
            "address": "192.0.2.1:15005", "tunnel": "connect",
            "tls": {"cert": "payments.pem", "key": "payments.key", "ca": "ca.pem", "server_name": "egressd.local"}})
        self.assertNotIn("policy", agent)  # the agent forwards everything: the gateway decides
        self.assertEqual(agent["audit"]["path"], str(self.dir / "agent.jsonl"))
        # both processes run in the gateway namespace: the agent's admin endpoint must not be the
        # gateway's (the default 127.0.0.1:9901)
        self.assertNotIn("admin", gw)
        self.assertEqual(agent["admin"], {"address": "127.0.0.1:9902"})
        self.assertTrue(a.agent and a.redirect)
        self.assertFalse(a.plain or a.mtls or a.sni or a.connect)
        self.assertEqual(a.name, AGENT_SUBJECT)

    def test_issue20_workloads_run_on_their_subjects_alone(self):
        connect = Egressd(Path("/nonexistent"), CERTS, 2, False, self.dir, CONNECT_SUBJECT)
        agent = EgressdAgent(Path("/nonexistent"), CERTS, 2, self.dir)
        egressd = Egressd(Path("/nonexistent"), CERTS, 2, True, self.dir)
        self.assertIsNone(skip_reason(connect, "connect_rate"))
        self.assertIsNone(skip_reason(agent, "agent_rate"))
        self.assertIsNone(skip_reason(agent, "tunnel_bulk"))
        self.assertEqual(skip_reason(agent, "connect_rate"), "egressd-agent does not serve connect workloads")
        self.assertEqual(skip_reason(connect, "agent_rate"), "egressd-connect does not serve agent workloads")
        self.assertEqual(skip_reason(connect, "redecide_10k"), "egressd-connect does not re-decide live connections")
        for w in ("conn_close_plain", "conn_rate_mtls", "conn_rate_sni"):
            self.assertIsNotNone(skip_reason(connect, w))
            self.assertIsNotNone(skip_reason(agent, w))
        # the baselines of the agent's targets stay egressd's own workloads
        self.assertIsNone(skip_reason(egressd, "conn_rate_mtls"))
        self.assertIsNone(skip_reason(egressd, "throughput_mtls"))
        self.assertIsNotNone(skip_reason(egressd, "agent_rate"))
        self.assertEqual(skip_reason(Direct(), "connect_rate"), "direct does not serve connect workloads")

    def test_agent_cpu_is_both_processes(self):
        a = EgressdAgent(Path("/nonexistent"), CERTS, 2, self.dir)
        self.assertEqual(a.cpu_pids(), {})

        class Proc:
            def __init__(self, pid, rc=None):
                self.pid, self.returncode = pid, rc

            def poll(self):
                return self.returncode

        a.proc, a.agent_proc = Proc(10), Proc(11)
        self.assertEqual(a.cpu_pids(), {"gateway": 10, "agent": 11})
        self.assertIsNone(a.exited())
        a.agent_proc.returncode = 1
        self.assertEqual(a.exited(), "agent exit 1")

    def test_squid_admits_the_same_tunnels_as_egressds_policy(self):
        conf = (BENCH_DIR / "squid" / "squid-connect.conf.in").read_text()
        acl = {f[1]: f[3:] for f in (line.split() for line in conf.splitlines()) if f[:1] == ["acl"]}
        self.assertIn("http_access allow CONNECT ci_runners bench_upstreams bench_ports\nhttp_access deny all\n",
                      conf)
        docs = list(yaml.safe_load_all((BENCH_DIR / "policy" / "bench.yaml").read_text()))
        dest = next(d for d in docs if d.get("kind") == "Destination" and d["name"] == "bench-upstreams")
        role = next(d for d in docs if d.get("kind") == "Role" and d["name"] == "ci-runners")
        self.assertEqual(acl["bench_upstreams"], dest["cidrs"])
        self.assertEqual([int(p) for p in acl["bench_ports"]], dest["ports"])
        self.assertEqual(acl["ci_runners"], [role["members"][0]["source"]])
        self.assertIn("http_port 0.0.0.0:@PORT@\n", conf)


if __name__ == "__main__":
    unittest.main()
