#!/usr/bin/env python3
"""config/*.yaml, the example configs: each uses only contract keys and names files that exist
(policy/ here, certificates that certs/make-dev-certs.sh makes under certs/out/); policy.dir is
absent only in an agent's config (upstream.via). The agent example's tunnel fits the gateway
example: upstream.via.address is the port of its CONNECT listener (mTLS), and server_name is a
subjectAltName of the dev gateway certificate (read with openssl from a fresh dev PKI). With a
built egressd, `egressd --check-config` accepts every example, its relative paths resolved as in
the repository (the config in a copy of config/, next to certs/out/ and policy/)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploylib import (DESTINATIONS, ROOT, config_key_errors, make_dev_pki,  # noqa: E402
                       port_of, tool)

CONFIG = ROOT / "config"
EXAMPLES = sorted(CONFIG.glob("*.yaml"))


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def tls_files(config: dict) -> list[str]:
    files = []
    for listener in config["listeners"]:
        tls = listener.get("tls", {})
        if tls.get("mode", "off") != "off":
            files += [tls["cert"], tls["key"], tls["client_ca"]]
    via = config.get("upstream", {}).get("via")
    if via:
        files += [via["tls"][k] for k in ("cert", "key", "ca")]
    return files


def by_role() -> tuple[dict, dict]:
    """The agent example and the CONNECT gateway example."""
    configs = {p.name: load(p) for p in EXAMPLES}
    (agent,) = [c for c in configs.values() if "via" in c.get("upstream", {})]
    (gateway,) = [c for c in configs.values()
                  if any(x.get("destination") == "connect" for x in c["listeners"])]
    return agent, gateway


class ExamplesTest(unittest.TestCase):
    def test_there_are_the_three_examples(self) -> None:
        self.assertEqual([p.name for p in EXAMPLES], ["agent.yaml", "egressd.yaml", "gateway-connect.yaml"])

    def test_contract_keys_and_destinations(self) -> None:
        for path in EXAMPLES:
            with self.subTest(config=path.name):
                config = load(path)
                self.assertEqual(config_key_errors(config), [])
                for listener in config["listeners"]:
                    self.assertIn(listener.get("destination", "original_dst"), DESTINATIONS)

    def test_named_files_exist_or_are_dev_certificates(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            made = {p.name for p in make_dev_pki(Path(tmp)).iterdir()}
        for path in EXAMPLES:
            config = load(path)
            with self.subTest(config=path.name):
                if "policy" in config:
                    self.assertTrue((CONFIG / config["policy"]["dir"]).is_dir())
                else:
                    self.assertIn("via", config["upstream"], "policy.dir is required without via")
                for f in tls_files(config):
                    self.assertTrue(f.startswith("../certs/out/"), f)
                    self.assertIn(Path(f).name, made)

    def test_agent_tunnel_fits_the_gateway(self) -> None:
        agent, gateway = by_role()
        via = agent["upstream"]["via"]
        self.assertEqual(via["tunnel"], "connect")
        (listener,) = [x for x in gateway["listeners"] if x.get("destination") == "connect"]
        self.assertEqual(port_of(via["address"]), port_of(listener["address"]))
        self.assertEqual(listener["tls"]["mode"], "required")
        self.assertEqual(Path(via["tls"]["ca"]).name, Path(listener["tls"]["client_ca"]).name)
        self.assertNotEqual(int(str(agent["upstream"].get("mark", 0)), 0), 0,
                            "the agent's own connections are marked for the redirect to exclude")
        self.assertNotEqual(port_of(agent["admin"]["address"]), port_of(gateway["admin"]["address"]),
                            "both can run on one host")
        with tempfile.TemporaryDirectory() as tmp:
            pki = make_dev_pki(Path(tmp))
            cert = pki / Path(listener["tls"]["cert"]).name
            p = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(cert)],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(f"DNS:{via['tls']['server_name']}", p.stdout)

    @unittest.skipUnless(tool("EGRESSD"), "EGRESSD (a built egressd) not given")
    def test_check_config(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_dev_pki(root / "certs" / "out")
            shutil.copytree(ROOT / "policy", root / "policy")
            shutil.copytree(CONFIG, root / "config")
            for path in EXAMPLES:
                with self.subTest(config=path.name):
                    p = subprocess.run([str(tool("EGRESSD")), "--check-config", "--config",
                                        str(root / "config" / path.name)],
                                       capture_output=True, text=True, timeout=60)
                    self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
