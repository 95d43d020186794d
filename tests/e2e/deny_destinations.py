#!/usr/bin/env python3
"""Settings.deny_destinations comes before every rule.

203.0.113.13 and 2001:db8:2::13 are listed in deny_destinations and also covered by the allow rule
`clients-to-lab`: they are denied with reason deny_destination and nothing reaches them; a
neighbour address (203.0.113.14) in the same rule is allowed.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402
from policies import LAB  # noqa: E402


def run(t: harness.Case) -> None:
    listed = t.upstream("echo", ["203.0.113.13:7", "[2001:db8:2::13]:7"], "listed")
    neighbour = t.upstream("echo", ["203.0.113.14:7"], "neighbour")
    gw = t.egressd(LAB)
    t.check_denied(gw, [listed, neighbour], "203.0.113.13:7", "deny_destination")
    t.check_denied(gw, [listed, neighbour], "[2001:db8:2::13]:7", "deny_destination")
    r = t.client("--dst", "203.0.113.14:7", "--send", "next door", "--shutdown")
    t.check_eq(r["recv"], "next door", "203.0.113.14 (not listed) is allowed by clients-to-lab")
    t.check_record(gw, "203.0.113.14: allow by rule", event="connection.decision",
                   dst="203.0.113.14:7", decision="allow", rule="clients-to-lab")
    t.check_eq(len(listed.accepts()), 0, "listed destinations accepted 0 connections")


harness.main(run, extra_v4=["203.0.113.13", "203.0.113.14"], extra_v6=["2001:db8:2::13"])
