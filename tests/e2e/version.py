#!/usr/bin/env python3
"""`egressd --version` and `egressctl --version` print the version and the git commit the binary
was built from (issue 22): the commit of this checkout, as `git rev-parse --short=12 HEAD` says
(the build regenerates it on every build, so a commit made since the last build fails this until
the next build, as it should)."""

import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import unittest  # noqa: E402

import offline  # noqa: E402
from offline import ARGS, SOURCE_DIR  # noqa: E402


def checkout_commit():
    if shutil.which("git") is None:
        return None
    p = subprocess.run(["git", "-C", str(SOURCE_DIR), "rev-parse", "--short=12", "HEAD"],
                       capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


class Version(unittest.TestCase):
    def check(self, binary, name):
        commit = checkout_commit()
        if commit is None:
            self.skipTest(f"{SOURCE_DIR} is not a git checkout")
        p = offline.run([binary, "--version"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.strip(), rf"^{name} \d+\.\d+\.\d+ \(commit [0-9a-f]{{12}}\)$")
        self.assertEqual(re.search(r"commit (\S+)\)", p.stdout).group(1), commit, p.stdout)

    def test_egressd(self):
        self.check(ARGS.egressd, "egressd")

    def test_egressctl(self):
        if not ARGS.egressctl:
            self.skipTest("no egressctl in this build")
        self.check(ARGS.egressctl, "egressctl")


if __name__ == "__main__":
    offline.main()
