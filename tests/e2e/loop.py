#!/usr/bin/env python3
"""The loop guard: a connection whose original destination is the gateway itself is denied
(`reason: loop`), even though the policy allows it: it is not a policy choice.

The client connects to the gateway's own listener address and port (192.0.2.1:15001,
[2001:db8:1::1]:15001) and to its internet-side address with the listener port
(203.0.113.254:15001). Each attempt produces exactly one decision record (a gateway that relayed to
itself would log a chain of them) and the client is reset.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
from policies import ALLOW_LAB, BLOCKLIST, DENY_BLOCKLIST, ROLE, SETTINGS, docs, lab_destination  # noqa: E402

ALLOW_GATEWAY = """\
kind: Rule
id: clients-to-gateway
action: allow
from: [{role: sandbox-clients}]
to: [{cidrs: [192.0.2.0/24, 203.0.113.254/32, "2001:db8:1::/64"]}]
"""

POLICY = docs(SETTINGS, ROLE, lab_destination(), BLOCKLIST, DENY_BLOCKLIST, ALLOW_LAB, ALLOW_GATEWAY)


def run(t: harness.Case) -> None:
    up = t.upstream("echo", ["203.0.113.10:7"])
    gw = t.egressd(POLICY)
    for dst in ("192.0.2.1:15001", "[2001:db8:1::1]:15001", "203.0.113.254:15001"):
        t.check_denied(gw, [up], dst, "loop")
    decisions = audit.matching(gw.records(), event="connection.decision")
    t.check_eq(len(decisions), 3, "three attempts, three decision records (no self-connection)")
    r = t.client("--dst", "203.0.113.10:7", "--send", "after loops", "--shutdown")
    t.check_eq(r["recv"], "after loops", "the gateway still relays allowed traffic")


harness.main(run)
