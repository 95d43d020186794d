#!/usr/bin/env python3
"""deploy/systemd/egressd.service and deploy/logrotate/egressd.

The unit is verified by `systemd-analyze verify --root=DIR` (no running systemd needed): DIR is a
temporary tree holding the unit, stand-ins for the binaries it runs and the system's unit files.
Its keys are checked too (capabilities, sandboxing, reload and stop signals). The logrotate
snippet is checked for create mode and SIGUSR1, by `logrotate --debug` when installed, and by
rotating a scratch copy (same rules, a temporary log) several times in one day."""

from __future__ import annotations

import gzip
import grp
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploylib import ROOT, config_key_errors, load_yaml_documents, tool  # noqa: E402

UNIT = ROOT / "deploy" / "systemd" / "egressd.service"
HOST_CONFIG = ROOT / "deploy" / "systemd" / "egressd.yaml"
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

    def test_starts_the_host_config(self) -> None:
        # deploy/systemd/egressd.yaml is what the package installs at the path the unit names.
        self.assertEqual(self.svc["ExecStart"], "/usr/sbin/egressd --config /etc/egressd/egressd.yaml")
        doc = load_yaml_documents(HOST_CONFIG)[0]
        self.assertEqual(config_key_errors(doc), [])
        self.assertEqual(doc["audit"]["path"], f"/var/log/{self.svc['LogsDirectory']}/audit.jsonl")
        self.assertTrue(doc["policy"]["dir"].startswith(self.svc["ReadOnlyPaths"] + "/"))

    @unittest.skipUnless(tool("EGRESSD"), "EGRESSD (a built egressd) not given")
    def test_host_config_loads(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "log").mkdir()
            text = HOST_CONFIG.read_text().replace("/etc/egressd/policy", str(ROOT / "policy"))
            (tmp / "egressd.yaml").write_text(text.replace("/var/log/egressd", str(tmp / "log")))
            p = subprocess.run([str(tool("EGRESSD")), "--check-config", "--config",
                                str(tmp / "egressd.yaml")], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


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

    @unittest.skipUnless(shutil.which("logrotate"), "logrotate not installed")
    def test_rotates_more_than_once_a_day(self) -> None:
        """maxsize makes a busy log rotate several times a day. Each rotation must get its own
        file (with the default `dateext` suffix -%Y%m%d the second one is skipped: "destination
        ... already exists, skipping rotation"), the oldest beyond `rotate` are removed, and egressd
        is told to reopen every time. The scratch copy keeps every rule of the snippet; only the
        log path, the owner, the signal (a marker file here) and the count (2 instead of 30) are
        changed, so three rotations also exercise the removal."""
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            logdir = tmp / "log"
            logdir.mkdir(mode=0o750)
            log = logdir / "audit.jsonl"
            marker = tmp / "reopened"
            user = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
            self.assertRegex(self.body, r"\n\s*rotate 30\n")
            text = (self.text.replace(self.path, str(log))
                    .replace("create 0640 egressd egressd", f"create 0640 {user} {group}")
                    .replace("rotate 30", "rotate 2"))
            text = re.sub(r"(postrotate\n).*?(\n\s*endscript)", rf"\1        echo >> {marker}\2",
                          text, flags=re.S)
            conf = tmp / "egressd"
            conf.write_text(text)
            for n in range(1, 4):
                if n > 1:
                    time.sleep(1.1)  # the suffix has a resolution of one second
                with open(log, "a") as f:
                    f.write(f'{{"seq":{n}}}\n')
                p = subprocess.run(["logrotate", "-f", "--state", str(tmp / "state"), str(conf)],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(p.returncode, 0, f"rotation {n}: {p.stderr}")
                self.assertNotIn("skipping", p.stderr, f"rotation {n}")
                self.assertEqual(marker.read_text().count("\n"), n, "SIGUSR1 on every rotation")
            rotated = sorted(f.name for f in logdir.iterdir() if f.name != "audit.jsonl")
            # Three rotations, `rotate 2`: the first file is gone; the newest rotated file stays
            # uncompressed (delaycompress), the older one is compressed.
            self.assertEqual(len(rotated), 2, rotated)
            older, newer = rotated
            self.assertRegex(older, r"^audit\.jsonl-\d{8}-\d{6}\.gz$")
            self.assertRegex(newer, r"^audit\.jsonl-\d{8}-\d{6}$")
            with gzip.open(logdir / older, "rt") as f:
                self.assertEqual(f.read(), '{"seq":2}\n')
            self.assertEqual((logdir / newer).read_text(), '{"seq":3}\n')
            self.assertEqual(log.read_text(), "")  # the new file, created by logrotate
            self.assertEqual(log.stat().st_mode & 0o777, 0o640)


if __name__ == "__main__":
    unittest.main(verbosity=2)
