#!/usr/bin/env python3
"""A `destination: tproxy` listener behind iptables/ip6tables mangle PREROUTING TPROXY.

The sandbox's gateway namespace has `-j TPROXY --on-port 15002 --tproxy-mark 0x1/0x1`, `ip rule
fwmark 0x1 lookup 100` and `ip route local default dev lo table 100` for both families, and no
REDIRECT. The listener (IP_TRANSPARENT) takes the original destination from the accepted socket's
local address: allowed echo IPv4 and IPv6 reach the right upstream, a default-denied destination is
reset with nothing sent upstream, and the audit records name the true destinations.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402
from policies import LAB  # noqa: E402
from sandbox import TPROXY_PORT  # noqa: E402

CONFIG = {"listeners": [{"name": "transparent", "address": f"[::]:{TPROXY_PORT}",
                         "destination": "tproxy"}]}


def run(t: harness.Case) -> None:
    up = t.upstream("echo", ["203.0.113.10:7", "203.0.113.20:7", "[2001:db8:2::10]:7"])
    denied = t.upstream("echo", ["203.0.113.99:7"], "denied")
    gw = t.egressd(LAB, CONFIG)
    for dst, src in (("203.0.113.10:7", "192.0.2.2"), ("203.0.113.20:7", "192.0.2.2"),
                     ("[2001:db8:2::10]:7", "2001:db8:1::2")):
        payload = f"tproxy to {dst}\n"
        r = t.client("--dst", dst, "--send", payload, "--shutdown")
        t.check_eq(r["recv"], payload, f"{dst}: echo through the TPROXY listener")
        dec = t.check_record(gw, f"{dst}: allow decision", event="connection.decision", dst=dst,
                             decision="allow", rule="clients-to-lab", src_host=src)
        if dec:
            t.check_eq(dec.get("listener"), "transparent", f"{dst}: listener name in the record")
            t.check_record(gw, f"{dst}: close record", event="connection.close",
                           conn_id=dec.get("conn_id"), bytes_up=len(payload), bytes_down=len(payload))
    locals_seen = sorted(c["local"] for c in up.wait_closes(3))
    t.check_eq(locals_seen, sorted(["203.0.113.10:7", "203.0.113.20:7", "[2001:db8:2::10]:7"]),
               "the upstream saw one connection to each original destination")
    t.check_denied(gw, [up, denied], "203.0.113.99:7", "default")


harness.main(run, mode="tproxy")
