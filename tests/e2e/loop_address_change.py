#!/usr/bin/env python3
"""The loop guard follows the gateway's local addresses as they change (issue 17, item 3).

203.0.113.253 and 2001:db8:2::fd start on the internet side, each with an echo server on the
listener port (15001): a connection to them is allowed and relayed. Then, with egressd running and
no SIGHUP, each address is added to the gateway namespace's `lo` (a VIP failover): a connection
to it through the redirect is now the gateway itself, so it is denied with reason `loop`, with
exactly one decision record and nothing upstream. A stale loop guard allows it and connects to
its own listener: a second decision record, for a connection from the gateway to itself (here
denied by default, as the gateway's address is no client's; with a policy that allowed it, the
loop goes on until max_connections). Removed again, the address is remote once more: allowed and
relayed.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
from policies import ROLE, SETTINGS, docs  # noqa: E402

VIP4, VIP6 = "203.0.113.253", "2001:db8:2::fd"
PORT = 15001

ALLOW_VIPS = f"""\
kind: Rule
id: clients-to-vips
action: allow
from: [{{role: sandbox-clients}}]
to: [{{cidrs: [{VIP4}/32, "{VIP6}/128"], ports: [{PORT}]}}]
"""

POLICY = docs(SETTINGS, ROLE, ALLOW_VIPS)


def wait_log(gw, text: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while text not in gw.stderr():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def relayed(t: harness.Case, gw, up, dst: str, what: str) -> None:
    r = t.client("--dst", dst, "--send", f"hello {what}", "--shutdown", "--timeout", "5")
    t.check_eq(r["recv"], f"hello {what}", f"{dst} {what}: relayed to the echo server", str(r))
    dec = t.decision_for(gw, r)
    t.check(dec is not None and dec.get("decision") == "allow" and dec.get("rule") == "clients-to-vips",
            f"{dst} {what}: allowed by clients-to-vips", audit.pretty(dec) if dec else "no record")


def run(t: harness.Case) -> None:
    dsts = {VIP4: f"{VIP4}:{PORT}", VIP6: f"[{VIP6}]:{PORT}"}
    up = t.upstream("echo", list(dsts.values()))
    # A loop, were there one, stops at max_connections: keep that small.
    gw = t.egressd(POLICY, {"limits": {"max_connections": 40}})

    for vip, dst in dsts.items():
        relayed(t, gw, up, dst, "before the address is local")

    for vip, dst in dsts.items():
        prefix = "/128" if ":" in vip else "/32"
        t.sb.ip(t.sb.gateway, "addr", "add", vip + prefix, "dev", "lo", *(["nodad"] if ":" in vip else []))
        t.check(wait_log(gw, f"local address {vip} added"),
                f"{vip} added to the gateway's lo: egressd logs it without a SIGHUP", gw.stderr()[-600:])
        before = len(audit.matching(gw.records(), event="connection.decision"))
        t.check_denied(gw, [up], dst, "loop")
        time.sleep(0.5)  # a loop would keep writing records
        new = audit.matching(gw.records(), event="connection.decision")[before:]
        t.check_eq(len(new), 1, f"{dst}: exactly one decision record (no connection to itself)",
                   "\n".join(audit.pretty(r) for r in new[:5]))

    for vip, dst in dsts.items():
        prefix = "/128" if ":" in vip else "/32"
        t.sb.ip(t.sb.gateway, "addr", "del", vip + prefix, "dev", "lo")
        t.check(wait_log(gw, f"local address {vip} removed"),
                f"{vip} removed from the gateway's lo: egressd logs it", gw.stderr()[-600:])
        relayed(t, gw, up, dst, "after the address left the gateway")

    reloads = audit.matching(gw.records(), event="policy.reload")
    t.check_eq(len(reloads), 0, "no SIGHUP was needed (no policy.reload record)")
    t.check_eq(gw.terminate(), 0, "egressd exits 0 on SIGTERM")


harness.main(run, extra_v4=[VIP4], extra_v6=[VIP6])
