#!/usr/bin/env python3
"""Hostname policy against a DNS server whose answers change (issue 19).

dnsmasq in the internet namespace (lib/dns.py; TTL 1s) answers for lab.example; the client sends
real ClientHellos (SNI) to echo servers on 443, where only rule api-by-name (by name) allows.

* answers that change between queries (dns.min_ttl 30s, one worker): moving.cdn.lab.example is
  203.0.113.10, then 203.0.113.20: a connection to each is allowed, and again to the first while
  it is held (every address seen within min_ttl counts; a destination missing from the held
  answers gets a fresh lookup, at most once a second per name); dns_answers lists both, and a
  third address is still name_mismatch;
* a name that stops resolving (min_ttl 0s: the answer's own TTL): allowed while it resolves, then
  NXDOMAIN → name_unresolved; a name whose server stops answering → name_unresolved after
  dns.timeout;
* the same window across workers (two workers): after roaming.cdn.lab.example moved, six
  connections to its old address are all allowed, whichever worker takes them (issue 19: every
  address seen for a name within min_ttl counts: round-robin and geo DNS must not cause false
  denials, so the window is the gateway's, not one worker's);
* report mode (host_verification: report): a spoofed SNI is allowed by the name, its record says
  name_verified mismatch and the shadow decision is the would-be denial.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import client_hello  # noqa: E402
import dns  # noqa: E402
import harness  # noqa: E402
import names  # noqa: E402
import observe  # noqa: E402
from names import API, ATTACKER_V4, OTHER_V4, REAL_V4, REAL_V6  # noqa: E402

MOVING, GOING, QUIET = "moving.cdn.lab.example", "going.cdn.lab.example", "quiet.cdn.lab.example"
ROAMING = "roaming.cdn.lab.example"


def hello_to(t, gw, up, name: str, addr: str, what: str) -> dict:
    hello = client_hello.client_hello(name)
    return names.relay(t, gw, up, f"{addr}:443", [names.write(hello)], hello, what)


def denied(t, gw, ups, name: str, addr: str, what: str, reason: str, timeout: float = 5.0) -> dict:
    r = names.send(t, f"{addr}:443", [names.write(client_hello.client_hello(name)), {"expect": 1}],
                   timeout=timeout)
    return names.check_reset(t, gw, ups, r, what, reason)


def run(t: harness.Case) -> None:
    server = dns.DnsServer.start(t.sb, {**names.RECORDS, MOVING: [REAL_V4], GOING: [REAL_V4],
                                        QUIET: [REAL_V4], ROAMING: [REAL_V4]}, ttl=1)
    up = t.upstream("echo", [f"{REAL_V4}:443", f"{OTHER_V4}:443", f"[{REAL_V6}]:443"], "servers")
    attacker = t.upstream("echo", [f"{ATTACKER_V4}:443"], "attacker")

    # 1. Answers that change between queries, within min_ttl (30s). One worker: the window of
    # one resolver's held answers, whatever worker takes a connection (the cross-worker promise
    # is part 3).
    gw = t.egressd(names.policy("strict"), {**names.config(min_ttl="30s"), "workers": 1})
    dec = hello_to(t, gw, up, MOVING, REAL_V4, "moving name at its first address")
    names.check_name(t, dec, "moving name at its first address", MOVING, "sni", "match", [REAL_V4])
    server.set(MOVING, [OTHER_V4])
    # A missing destination asks again at most once per name a second (the per-name rate limit):
    # a client that learnt the new answer later than that is the case to prove.
    time.sleep(1.2)
    what = "moving name at its new address"
    dec = hello_to(t, gw, up, MOVING, OTHER_V4, what)
    names.check_name(t, dec, what, MOVING, "sni", "match", [REAL_V4, OTHER_V4])
    what = "moving name at its first address again, within min_ttl"
    dec = hello_to(t, gw, up, MOVING, REAL_V4, what)
    names.check_name(t, dec, what, MOVING, "sni", "match", [REAL_V4, OTHER_V4])
    # And still not any address: the name is checked, not merely cached as "good".
    what = "moving name at an address it never had"
    dec = denied(t, gw, [attacker], MOVING, ATTACKER_V4, what, "name_mismatch")
    names.check_name(t, dec, what, MOVING, "sni", "mismatch", [REAL_V4, OTHER_V4])
    observe.check_schema(t, gw.records(), "min_ttl 30s gateway")
    t.require(gw.terminate() == 0, "egressd (min_ttl 30s) exits 0 on SIGTERM")

    # 2. Names that stop resolving: answers held only for their own TTL (1s).
    gw = t.egressd(names.policy("strict"), names.config(min_ttl="0s", dns_timeout="1s"))
    what = "going name while it resolves"
    dec = hello_to(t, gw, up, GOING, REAL_V4, what)
    names.check_name(t, dec, what, GOING, "sni", "match", [REAL_V4])
    server.remove(GOING)
    time.sleep(1.5)  # the held answer's TTL passes
    what = "going name after it became NXDOMAIN"
    dec = denied(t, gw, [attacker], GOING, REAL_V4, what, "name_unresolved")
    names.check_name(t, dec, what, GOING, "sni", "unresolved", None)

    what = "quiet name while its server answers"
    dec = hello_to(t, gw, up, QUIET, REAL_V4, what)
    server.silence()
    time.sleep(1.5)
    what = "quiet name when its server no longer answers"
    t0 = time.monotonic()
    dec = denied(t, gw, [attacker], QUIET, REAL_V4, what, "name_unresolved", timeout=8)
    took = time.monotonic() - t0
    names.check_name(t, dec, what, QUIET, "sni", "unresolved", None)
    t.check(took < 6, f"{what}: decided within about dns.timeout (1s), not left hanging",
            f"{took:.2f}s")
    server.unsilence()
    observe.check_schema(t, gw.records(), "min_ttl 0s gateway")
    t.require(gw.terminate() == 0, "egressd (min_ttl 0s) exits 0 on SIGTERM")

    # 3. The window across workers: each of two workers decides some of six connections (which
    # worker accepts is the kernel's choice; six make "one never does" about 3 %).
    gw = t.egressd(names.policy("strict"), {**names.config(min_ttl="30s"), "workers": 2},
                   name="egressd-workers")
    dec = hello_to(t, gw, up, ROAMING, REAL_V4, "roaming name at its first address")
    names.check_name(t, dec, "roaming name at its first address", ROAMING, "sni", "match", [REAL_V4])
    server.set(ROAMING, [OTHER_V4])
    time.sleep(1.2)  # past the per-name refresh limit
    hello_to(t, gw, up, ROAMING, OTHER_V4, "roaming name at its new address")
    for i in range(6):
        what = f"roaming name at its old address on any worker ({i + 1}/6)"
        dec = hello_to(t, gw, up, ROAMING, REAL_V4, what)
        t.check_eq(dec.get("name_verified"), "match", f"{what}: name_verified", str(dec.get("dns_answers")))
    t.require(gw.terminate() == 0, "egressd (two workers) exits 0 on SIGTERM")

    # 4. Report mode: the spoofed name is allowed by name, the would-be denial is the shadow.
    gw = t.egressd(names.policy("report"), names.config())
    hello = client_hello.client_hello(API)
    what = "report mode: SNI api.lab.example to 203.0.113.99"
    dec = names.relay(t, gw, attacker, f"{ATTACKER_V4}:443", [names.write(hello)], hello, what)
    t.check_eq(dec.get("rule"), "api-by-name", f"{what}: allowed by the name's rule")
    names.check_name(t, dec, what, API, "sni", "mismatch", [REAL_V4, REAL_V6])
    shadow = dec.get("shadow") or {}
    t.check_eq(shadow.get("decision"), "deny", f"{what}: the shadow decision is the would-be denial",
               str(dec))
    what = "report mode: SNI api.lab.example to its own address"
    dec = hello_to(t, gw, up, API, REAL_V4, what)
    names.check_name(t, dec, what, API, "sni", "match", [REAL_V4, REAL_V6])
    t.check("shadow" not in dec, f"{what}: no shadow when verification passes", str(dec.get("shadow")))
    observe.check_schema(t, gw.records(), "report-mode gateway")


harness.main(run, extra_v4=names.SANDBOX_V4)
