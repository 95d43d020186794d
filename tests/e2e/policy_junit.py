#!/usr/bin/env python3
"""`egressctl policy test DIR --junit FILE` (issue 22): a policy repository's CI gets a JUnit XML
report while the normal output and exit code stay.

The LAB policy with one test file of two cases: one passes, one fails (expects allow for
203.0.113.66, which deny-blocklist denies); names hold XML's special characters. Checked: exit 1,
the usual FAIL line and "1 passed, 1 failed" on stdout, and the XML (parsed by xml.etree):
<testsuites tests=2 failures=1>, one <testsuite> named after the test file with tests=2
failures=1, the two <testcase> names as written, a <failure> only on the failing one whose
message says what was expected and what happened. A run with only the passing case exits 0 with
failures=0; an unwritable report path fails the run (exit 1) naming it and why.
"""

import os
import sys
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import unittest  # noqa: E402

import offline  # noqa: E402
from offline import ARGS  # noqa: E402
from policies import LAB  # noqa: E402

PASSING = 'echo <allowed> & "reached"'
FAILING = "blocklisted <66> & 'expected' allow"

TESTS = f"""\
kind: PolicyTest
cases:
  - name: {PASSING!r}
    src: 192.0.2.2
    dst: 203.0.113.10:7
    expect: allow
  - name: "{FAILING}"
    src: 192.0.2.2
    dst: 203.0.113.66:7
    expect: allow
"""


class PolicyJunit(unittest.TestCase):
    def setUp(self):
        if not ARGS.egressctl:
            self.skipTest("no egressctl in this build")
        self.work = offline.work_dir()
        self.policy = self.work / "policy"
        self.policy.mkdir()
        (self.policy / "10-lab.yaml").write_text(LAB)

    def run_test(self, tests_text, report):
        (self.policy / "90-tests.yaml").write_text(tests_text)
        return offline.run([ARGS.egressctl, "policy", "test", str(self.policy), "--junit",
                            str(report)])

    def test_report_with_a_failure(self):
        report = self.work / "report.xml"
        p = self.run_test(TESTS, report)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("1 passed, 1 failed", p.stdout)
        self.assertIn(f'FAIL "{FAILING}"', p.stdout)
        root = ET.parse(report).getroot()
        self.assertEqual(root.tag, "testsuites")
        self.assertEqual((root.get("tests"), root.get("failures")), ("2", "1"))
        suites = root.findall("testsuite")
        self.assertEqual(len(suites), 1)
        suite = suites[0]
        self.assertTrue(suite.get("name").endswith("90-tests.yaml"), suite.get("name"))
        self.assertEqual((suite.get("tests"), suite.get("failures")), ("2", "1"))
        cases = suite.findall("testcase")
        self.assertEqual([c.get("name") for c in cases], [PASSING, FAILING])
        self.assertIsNone(cases[0].find("failure"))
        failure = cases[1].find("failure")
        self.assertIsNotNone(failure)
        self.assertEqual(failure.get("message"), "expected allow; got deny by rule deny-blocklist")
        self.assertIn("192.0.2.2 -> 203.0.113.66:7", failure.text)

    def test_report_all_passing(self):
        report = self.work / "report.xml"
        p = self.run_test(TESTS.split("  - name: \"")[0], report)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        root = ET.parse(report).getroot()
        self.assertEqual((root.get("tests"), root.get("failures")), ("1", "0"))

    def test_unwritable_report_fails_the_run(self):
        report = self.work / "missing-dir" / "report.xml"
        p = self.run_test(TESTS.split("  - name: \"")[0], report)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(f"cannot write {report}: No such file or directory", p.stderr)


if __name__ == "__main__":
    offline.main()
