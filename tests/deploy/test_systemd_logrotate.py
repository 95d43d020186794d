#!/usr/bin/env python3
"""deploy/systemd/egressd.service and deploy/logrotate/egressd.

The unit is verified by `systemd-analyze verify --root=DIR` (no running systemd needed): DIR is a
temporary tree holding the unit, stand-ins for the binaries it runs and the system's unit files.
Its keys are checked too (capabilities, sandboxing, reload and stop signals). The logrotate
snippet is checked for create mode and SIGUSR1, and by `logrotate --debug` when installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploylib import ROOT  # noqa: E402

UNIT = ROOT / "deploy" / "systemd" / "egressd.service"
LOGROTATE = ROOT / "deploy" / "logrotate" / "egressd"


def read_unit() -> dict[str, dict[str, list[str]]]:
    """section → key → values (a key may repeat)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out.setdefault(section, {})
            continue
        key, _, value = line.partition("=")
        out[section].setdefault(key.strip(), []).append(value.strip())
    return out


class SystemdUnitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.unit = read_unit()
        cls.svc = {k: v[-1] for k, v in cls.unit["Service"].items()}

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze not installed")
    def test_systemd_analyze_verify(self) -> None:
        with tempfile.TemporaryDirectory() as root:
            root = Path(root)
            (root / "etc/systemd/system").mkdir(parents=True)
            shutil.copy(UNIT, root / "etc/systemd/system/egressd.service")
            shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
            # Stand-ins for every executable the unit names: verify checks they exist.
            for key in ("ExecStartPre", "ExecStart", "ExecReload"):
                for cmd in self.unit["Service"].get(key, []):
                    exe = root / cmd.lstrip("-@:+!").split()[0].lstrip("/")
                    exe.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy("/bin/true", exe)
            p = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={root}",
                                "/etc/systemd/system/egressd.service"], capture_output=True,
                               text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            # Unknown keys and bad values are only warnings: the output must be empty.
            self.assertEqual(p.stderr.strip(), "")
            self.assertEqual(p.stdout.strip(), "")

    def test_user_and_capabilities(self) -> None:
        self.assertEqual(self.svc["User"], "egressd")
        caps = set(self.svc["AmbientCapabilities"].split())
        self.assertEqual(caps, {"CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"})
        self.assertEqual(set(self.svc["CapabilityBoundingSet"].split()), caps)
        self.assertEqual(self.svc["NoNewPrivileges"], "yes")
        self.assertEqual(self.svc["ProtectSystem"], "strict")

    def test_signals(self) -> None:
        self.assertRegex(self.svc["ExecReload"], r"^/bin/kill -HUP \$MAINPID$")
        self.assertEqual(self.svc["KillSignal"], "SIGTERM")
        stop = int(self.svc["TimeoutStopSec"].rstrip("s"))
        self.assertGreater(stop, 30, "TimeoutStopSec must exceed the default drain_timeout (30s)")

    def test_config_is_checked_before_start(self) -> None:
        start = self.svc["ExecStart"]
        self.assertEqual(self.svc["ExecStartPre"],
                         start.replace("--config", "--check-config --config", 1))

    def test_audit_directory_is_the_only_writable_log_path(self) -> None:
        self.assertEqual(self.svc["LogsDirectory"], "egressd")  # /var/log/egressd, owned by User
        self.assertNotIn("ReadWritePaths", self.svc)


class LogrotateTest(unittest.TestCase):
    def setUp(self) -> None:
        self.text = LOGROTATE.read_text()
        body = re.search(r"^(\S+)\s*\{(.*)^\}", self.text, re.S | re.M)
        self.assertIsNotNone(body)
        self.path, self.body = body.group(1), body.group(2)

    def test_create_mode_and_sigusr1(self) -> None:
        self.assertEqual(self.path, "/var/log/egressd/audit.jsonl")
        self.assertRegex(self.body, r"\n\s*create 0640 egressd egressd\n")
        self.assertNotRegex(self.body, r"\bcopytruncate\b", "copytruncate loses records")
        post = re.search(r"postrotate\n(.*?)\n\s*endscript", self.body, re.S).group(1)
        self.assertIn("--signal=SIGUSR1", post)
        self.assertIn("egressd.service", post)

    def test_delaycompress_with_compress(self) -> None:
        # The shipper may still read the newest rotated file: it stays uncompressed one cycle.
        if re.search(r"\n\s*compress\n", self.body):
            self.assertRegex(self.body, r"\n\s*delaycompress\n")

    def test_path_is_where_the_deployments_write(self) -> None:
        compose = (ROOT / "deploy" / "compose" / "egressd.yaml").read_text()
        self.assertIn(f"path: {self.path}", compose)

    @unittest.skipUnless(shutil.which("logrotate"), "logrotate not installed")
    def test_logrotate_debug_parses(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            conf = Path(tmp) / "egressd"
            conf.write_text(self.text.replace("create 0640 egressd egressd", "create 0640 root root"))
            p = subprocess.run(["logrotate", "--debug", "--state", str(Path(tmp) / "state"),
                                str(conf)], capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertNotIn("error", p.stderr.lower())


if __name__ == "__main__":
    unittest.main(verbosity=2)
