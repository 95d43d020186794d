#!/usr/bin/env python3
"""Denied connections: by rule and by default, IPv4 and IPv6.

203.0.113.66 matches both `deny-blocklist` and `clients-to-lab`: the deny rule wins. 203.0.113.99
and 2001:db8:2::99 match no rule: default deny. Upstream servers listen on every one of them, so
"no connection accepted" proves the gateway sent no SYN, not that nothing was there to answer.
With --log-level debug, the operational log traces each decision's chain steps in one line.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402
from policies import LAB  # noqa: E402


def run(t: harness.Case) -> None:
    ups = [t.upstream("echo", ["203.0.113.66:7", "203.0.113.99:7", "[2001:db8:2::99]:7"], "targets"),
           t.upstream("echo", ["203.0.113.10:7"], "allowed")]
    gw = t.egressd(LAB, extra_args=["--log-level", "debug"])
    dec = t.check_denied(gw, ups, "203.0.113.66:7", "rule", rule="deny-blocklist",
                         src_host="192.0.2.2")
    if dec is not None:
        # conn_id is "<instance>-<counter>"; the data path logs the counter.
        counter = str(dec["conn_id"]).rsplit("-", 1)[-1]
        line = (f"conn {counter}: original_dst ok, admission ok, loop_guard ok, "
                "policy deny rule=deny-blocklist")
        deadline = time.monotonic() + 5
        while line not in gw.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        t.check(line in gw.stderr(), "the debug line names each step of the chain",
                gw.stderr()[-2000:])
    t.check_denied(gw, ups, "203.0.113.99:7", "default", src_host="192.0.2.2")
    t.check_denied(gw, ups, "[2001:db8:2::99]:7", "default", src_host="2001:db8:1::2")
    # A port outside the rule's port set, on an allowed address.
    t.check_denied(gw, ups, "203.0.113.10:8", "default")
    # The gateway still serves allowed traffic after denials.
    r = t.client("--dst", "203.0.113.10:7", "--send", "still here", "--shutdown")
    t.check_eq(r["recv"], "still here", "an allowed connection after the denials works")
    t.check_eq(len(ups[0].accepts()), 0, "the denied targets accepted 0 connections in all")


harness.main(run, extra_v6=["2001:db8:2::99"])
