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

    def test_commit_outside_a_checkout(self):
        """The build step itself: a source tree that is no checkout of its own (a tarball, even
        unpacked inside another repository) takes EGRESS_COMMIT, else says unknown; an unchanged
        commit leaves the header alone (nothing recompiles)."""
        if shutil.which("cmake") is None:
            self.skipTest("no cmake")
        script = SOURCE_DIR / "src" / "cli" / "build_commit.cmake"
        work = offline.work_dir()
        (work / "src").mkdir()

        def header(source, fallback):
            out = work / "commit.hpp"
            p = offline.run(["cmake", f"-DSOURCE_DIR={source}", f"-DOUTPUT={out}",
                             f"-DFALLBACK={fallback}", "-P", str(script)])
            self.assertEqual(p.returncode, 0, p.stderr)
            return out.read_text()

        self.assertIn('EGRESS_BUILD_COMMIT "0123abcd"', header(work / "src", "0123abcd"))
        self.assertIn('EGRESS_BUILD_COMMIT "unknown"', header(work / "src", ""))
        commit = checkout_commit()
        if commit:
            self.assertIn(f'EGRESS_BUILD_COMMIT "{commit}"', header(SOURCE_DIR, "0123abcd"))
            before = (work / "commit.hpp").stat().st_mtime_ns
            header(SOURCE_DIR, "0123abcd")
            self.assertEqual((work / "commit.hpp").stat().st_mtime_ns, before)


if __name__ == "__main__":
    offline.main()
