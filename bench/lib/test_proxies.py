"""Unit tests of what the harness reads from a subject (run by `bench/run.sh --check`)."""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proxies import HOSTNAME_RULE_SUBJECT, Direct, Egressd, HAProxy  # noqa: E402

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


if __name__ == "__main__":
    unittest.main()
