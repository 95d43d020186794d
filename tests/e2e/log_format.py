#!/usr/bin/env python3
"""egressd's operational log (issue 22): --log-format json writes one JSON object per stderr line
(time in RFC 3339 UTC, level, logger, message), errors included; --log-level debug shows where
material was read from; a bad --log-format value is refused with exit 2.

* `--log-format xml`: exit 2, the option and the value named;
* json, a config path holding a quote, a backslash and a tab that does not exist: exit 1; every
  stderr line is an object with exactly those four fields, and one message carries the path as it
  is and the system's reason;
* json + debug, `--check-config` of a TLS config: exit 0; every stderr line parses; debug lines
  name the config file, the policy directory and its files, and the certificate's path, subject
  and not-after; without --log-level debug none of them appears.
"""

import json
import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import unittest  # noqa: E402

import offline  # noqa: E402
from offline import ARGS  # noqa: E402

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


class LogFormat(unittest.TestCase):
    def setUp(self):
        self.work = offline.work_dir()

    def json_lines(self, stderr):
        lines = [line for line in stderr.split("\n") if line]
        self.assertTrue(lines, "something was logged")
        out = []
        for line in lines:
            try:
                o = json.loads(line)
            except json.JSONDecodeError as e:
                self.fail(f"not JSON: {line!r}: {e}")
            self.assertEqual(set(o), {"time", "level", "logger", "message"}, line)
            self.assertRegex(o["time"], RFC3339_UTC)
            self.assertEqual(o["logger"], "egressd")
            self.assertIn(o["level"], {"trace", "debug", "info", "warning", "error", "critical"})
            out.append(o)
        return out

    def test_bad_value_exits_2(self):
        p = offline.run([ARGS.egressd, "--log-format", "xml", "--check-config"])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--log-format", p.stderr)
        self.assertIn("xml", p.stderr)

    def test_errors_are_json_and_escaped(self):
        path = self.work / 'we"ird\\\tdir' / "egressd.yaml"
        p = offline.run([ARGS.egressd, "--log-format", "json", "--check-config", "--config",
                         str(path)])
        self.assertEqual(p.returncode, 1, p.stderr)
        records = self.json_lines(p.stderr)
        messages = [r["message"] for r in records]
        self.assertIn(f"{path}: error: cannot read the config file: No such file or directory",
                      messages)
        self.assertIn("critical", [r["level"] for r in records])

    def test_debug_shows_what_was_read(self):
        pki = offline.make_pki(self.work)
        listener = {"name": "egress", "address": "127.0.0.1:15001", "destination": "original_dst",
                    "tls": {"mode": "required", "cert": str(pki / "gateway.pem"),
                            "key": str(pki / "gateway.key"), "client_ca": str(pki / "ca.pem")}}
        config, cfg = offline.write_setup(self.work, {"listeners": [listener]})
        p = offline.run([ARGS.egressd, "--log-format", "json", "--log-level", "debug",
                         "--check-config", "--config", str(config)])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        debug = [r["message"] for r in self.json_lines(p.stderr) if r["level"] == "debug"]
        self.assertIn(f"config: reading {config}", debug)
        self.assertIn(f"policy: reading {cfg['policy']['dir']}: 10-lab.yaml", debug)
        tls = [m for m in debug if m.startswith(f"tls: read cert {pki / 'gateway.pem'} (subject ")]
        self.assertEqual(len(tls), 1, debug)
        self.assertRegex(tls[0], r"not after \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
        self.assertIn(f"key {pki / 'gateway.key'}, client_ca {pki / 'ca.pem'} (2 CAs)", tls[0])

        p = offline.run([ARGS.egressd, "--log-format", "json", "--check-config", "--config",
                         str(config)])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        levels = [json.loads(line)["level"] for line in p.stderr.split("\n") if line]
        self.assertNotIn("debug", levels, p.stderr)


if __name__ == "__main__":
    offline.main()
