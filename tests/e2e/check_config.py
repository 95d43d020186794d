#!/usr/bin/env python3
"""`egressd --check-config` says why it cannot read a file, and checks the audit directory the way
start-up will use it (issue 22: it said OK for a missing audit directory, and start-up failed
later, after systemd's ExecStartPre check had passed).

* a missing config file: exit 1, the path and the system's reason;
* TLS material that cannot be read: exit 1, the key (listeners[0].tls.cert), the path and why;
* audit.path in a missing directory: exit 1, audit.path, the directory and why, no "OK";
* audit.path in a directory the checking user cannot write (run as nobody, as systemd runs the
  service user's ExecStartPre): exit 1 with "Permission denied"; the same directory made writable
  passes, so the permission is what failed; an existing audit file that user cannot append to
  fails too.
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import unittest  # noqa: E402

import offline  # noqa: E402
from offline import ARGS  # noqa: E402


def check(config, user=None):
    return offline.run([ARGS.egressd, "--check-config", "--config", str(config)], user=user)


class CheckConfig(unittest.TestCase):
    def setUp(self):
        self.work = offline.work_dir()

    def test_missing_config_file_names_path_and_reason(self):
        path = self.work / "nope.yaml"
        p = check(path)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(f"{path}: error: cannot read the config file: No such file or directory",
                      p.stderr)

    def test_unreadable_tls_material_names_key_path_and_reason(self):
        pki = offline.make_pki(self.work)
        cert = self.work / "missing-gateway.pem"
        listener = {"name": "egress", "address": "127.0.0.1:15001", "destination": "original_dst",
                    "tls": {"mode": "required", "cert": str(cert), "key": str(pki / "gateway.key"),
                            "client_ca": str(pki / "ca.pem")}}
        config, _ = offline.write_setup(self.work, {"listeners": [listener]})
        p = check(config)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("listeners[0].tls.cert", p.stderr)
        self.assertIn(f"{cert}: No such file or directory", p.stderr)

    def test_valid_setup_is_ok(self):
        config, _ = offline.write_setup(self.work)
        p = check(config)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(": OK (", p.stdout)

    def test_missing_audit_directory(self):
        config, cfg = offline.write_setup(self.work, audit_dir="log")
        os.rmdir(self.work / "log")
        p = check(config)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertNotIn("OK", p.stdout)
        self.assertIn(f"audit.path {cfg['audit']['path']}: directory {self.work / 'log'}: "
                      "No such file or directory", p.stderr)

    def test_audit_directory_not_writable_by_the_checking_user(self):
        user = offline.other_user()
        if user is None:
            self.skipTest("needs root and setpriv to run the check as another user (nobody)")
        config, cfg = offline.write_setup(self.work, audit_dir="log")
        os.chmod(self.work / "log", 0o755)  # root's: nobody may not create files in it
        os.chmod(self.work / "policy", 0o755)
        for f in [config, self.work / "policy" / "10-lab.yaml"]:
            os.chmod(f, 0o644)
        p = check(config, user=user)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertNotIn("OK", p.stdout)
        self.assertIn(f"audit.path {cfg['audit']['path']}: directory {self.work / 'log'}: "
                      "cannot create files in it: Permission denied", p.stderr)
        # The control: the same setup with a writable directory passes as the same user.
        os.chmod(self.work / "log", 0o777)
        p = check(config, user=user)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # An existing audit file (root's, 0644) the user cannot append to fails too.
        audit = self.work / "log" / "audit.jsonl"
        audit.write_text("")
        os.chmod(audit, 0o644)
        p = check(config, user=user)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(f"audit.path {audit}: cannot read and append to it: Permission denied",
                      p.stderr)


if __name__ == "__main__":
    offline.main()
