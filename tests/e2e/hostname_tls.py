#!/usr/bin/env python3
"""Hostname policy on TLS (issue 19): the SNI read from a real ClientHello, verified by DNS.

A dnsmasq in the internet namespace (lib/dns.py) says api.lab.example is 203.0.113.10 and
2001:db8:2::10; rule api-by-name allows that name on 443 and no rule allows any address on 443.
The client writes ClientHellos made by OpenSSL (lib/client_hello.py) to echo servers, so "the
bytes went through" is "the client read its exact ClientHello back".

* the name to its address: allowed, record host / name_source sni / name_verified match /
  dns_answers (both addresses the name has);
* the same name to another address (203.0.113.99, where an echo server listens): denied
  name_mismatch, and the internet namespace counts zero SYNs to it;
* the ClientHello written one byte at a time, and re-framed over three TLS records: allowed;
* a ClientHello without SNI: name_source none, the hostname rule does not match (default deny);
* a ClientHello larger than peek.max_bytes (16 KiB, padded with ALPN names): client_hello_invalid;
* a ClientHello with a GREASE encrypted_client_hello extension: decided on the outer SNI, ech: true.
Every record validates against docs/audit.schema.json.
"""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import client_hello  # noqa: E402
import dns  # noqa: E402
import harness  # noqa: E402
import names  # noqa: E402
import observe  # noqa: E402
from names import API, ATTACKER_V4, REAL_V4, REAL_V6  # noqa: E402


def run(t: harness.Case) -> None:
    dns.DnsServer.start(t.sb, names.RECORDS)
    real = t.upstream("echo", [f"{REAL_V4}:443", f"[{REAL_V6}]:443"], "real")
    attacker = t.upstream("echo", [f"{ATTACKER_V4}:443"], "attacker")
    names.syn_counter(t, ATTACKER_V4, 443)
    gw = t.egressd(names.policy("strict"), names.config())

    hello = client_hello.client_hello(API)
    t.require(client_hello.sni_of(hello) == API, "the ClientHello carries the SNI")

    # 1. The name to its address.
    what = "SNI api.lab.example to 203.0.113.10"
    dec = names.relay(t, gw, real, f"{REAL_V4}:443", [names.write(hello)], hello, what)
    t.check_eq(dec.get("rule"), "api-by-name", f"{what}: rule")
    names.check_name(t, dec, what, API, "sni", "match", [REAL_V4, REAL_V6])
    t.check("ech" not in dec, f"{what}: no ech field without ECH", str(dec.get("ech")))

    # IPv6: the same name to its AAAA address.
    what = "SNI api.lab.example to [2001:db8:2::10]"
    dec = names.relay(t, gw, real, f"[{REAL_V6}]:443", [names.write(hello)], hello, what)
    names.check_name(t, dec, what, API, "sni", "match", [REAL_V4, REAL_V6])

    # 2. The same name to another address: a spoofed SNI.
    what = "SNI api.lab.example to 203.0.113.99"
    r = names.send(t, f"{ATTACKER_V4}:443", [names.write(hello), {"expect": 1}])
    dec = names.check_reset(t, gw, [attacker], r, what, "name_mismatch")
    names.check_name(t, dec, what, API, "sni", "mismatch", [REAL_V4, REAL_V6])
    t.check_eq(names.syns(t, ATTACKER_V4, 443), 0, f"{what}: zero SYNs reached 203.0.113.99:443")

    # 3. One byte per write (TCP_NODELAY, 2 ms apart): the reader reassembles the segments.
    what = "ClientHello one byte at a time"
    dec = names.relay(t, gw, real, f"{REAL_V4}:443", [names.write(hello, piece=1, gap=0.002)], hello, what,
                   timeout=10)
    names.check_name(t, dec, what, API, "sni", "match", [REAL_V4, REAL_V6])

    # 4. One handshake message over three TLS records, each record its own write.
    three = client_hello.split_records(hello, 3)
    t.require(len(client_hello.records(three)) == 3, "the re-framed ClientHello has three records")
    rec_bytes = [5 + len(p) for _, _, p in client_hello.records(three)]
    what = "ClientHello over three TLS records"
    steps = []
    off = 0
    for n in rec_bytes:
        steps += [names.write(three[off:off + n]), {"sleep": 0.05}]
        off += n
    dec = names.relay(t, gw, real, f"{REAL_V4}:443", steps, three, what)
    names.check_name(t, dec, what, API, "sni", "match", [REAL_V4, REAL_V6])

    # 5. No SNI: no name, the hostname rule cannot match; no other rule allows 443.
    what = "ClientHello without SNI"
    bare = client_hello.client_hello(None)
    t.require(client_hello.sni_of(bare) is None, "the bare ClientHello has no SNI")
    r = names.send(t, f"{REAL_V4}:443", [names.write(bare), {"expect": 1}])
    before = len(real.accepts())
    dec = names.check_reset(t, gw, [attacker], r, what, "default")
    t.check_eq(len(real.accepts()), before, f"{what}: the real server accepted nothing more")
    names.check_name(t, dec, what, None, "none", "not_checked", None)

    # 6. Larger than peek.max_bytes (16 KiB): OpenSSL itself spreads it over two records.
    what = "ClientHello > 16 KiB"
    big = client_hello.client_hello(API, min_size=17 * 1024)
    r = names.send(t, f"{REAL_V4}:443", [names.write(big), {"expect": 1}])
    before = len(real.accepts())
    dec = names.check_reset(t, gw, [attacker], r, what, "client_hello_invalid")
    t.check_eq(len(real.accepts()), before, f"{what}: the real server accepted nothing more")

    # 7. GREASE ECH: decided on the outer SNI, recorded ech: true.
    what = "ClientHello with GREASE ECH"
    ech = client_hello.with_grease_ech(hello)
    t.require(client_hello.extensions(ech)[0] == client_hello.EXT_ECH, "the ClientHello offers ECH")
    dec = names.relay(t, gw, real, f"{REAL_V4}:443", [names.write(ech)], ech, what)
    names.check_name(t, dec, what, API, "sni", "match", [REAL_V4, REAL_V6])
    t.check_eq(dec.get("ech"), True, f"{what}: ech")

    observe.check_schema(t, gw.records(), "hostname_tls")


harness.main(run, extra_v4=names.SANDBOX_V4)
