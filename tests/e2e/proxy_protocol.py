#!/usr/bin/env python3
"""PROXY protocol from a load balancer (issue 20, section 3), with a real HAProxy.

HAProxy runs in the client namespace as the "load balancer": it listens on 203.0.113.10:7 and :9
(addresses on the client namespace's loopback, so a client there reaching them is intercepted by
it, as a transparent balancer would) and forwards to egressd from its own address 192.0.2.5 with
`send-proxy-v2` (port 7, with health checks that send PROXY v2 LOCAL) and `send-proxy` (v1, port
9). egressd's listener trusts only 192.0.2.5. The policy allows 203.0.113.10 only from
198.51.100.7, a source the balancer's header names and no packet egressd receives carries:

* through the balancer, 198.51.100.7 is allowed over v2 and v1 (the echo comes back); the decision
  record's src is 198.51.100.7, its proxy_src the balancer, its dst the header's destination;
  198.51.100.8 through the same balancer is denied by default;
* the balancer's health checks (LOCAL) are counted in egressd_proxy_local_connections_total and
  leave no record;
* a raw client at 192.0.2.2 (untrusted; a rule allows it to 203.0.113.20:7) that forges a v1 or v2
  header claiming 198.51.100.7 is reset with `proxy_header_untrusted`, and the upstream accepts
  no connection (no SYN left egressd); the same client without a header is relayed as before;
* a connection from the balancer's address without a header is denied `proxy_header_invalid`.
"""

import json
import os
import shutil
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
import observe  # noqa: E402
from sandbox import IF_CLIENT, PYTHON, REDIRECT_PORT  # noqa: E402

LB = "192.0.2.5"             # the balancer's own address (trusted)
CLIENT = "198.51.100.7"      # the original client the policy allows
OTHER = "198.51.100.8"       # another client behind the balancer
VIP = "203.0.113.10"         # what the balancer intercepts (v2 on :7, v1 on :9)
DIRECT = "203.0.113.20:7"    # reached by the untrusted client through the redirect

POLICY = """\
kind: Settings
default: deny
---
kind: Rule
id: lb-client-to-vip
action: allow
from: [{source: 198.51.100.7/32}]
to: [{cidrs: [203.0.113.10/32], ports: [7, 9]}]
---
kind: Rule
id: direct-client
action: allow
from: [{source: 192.0.2.2/32}]
to: [{cidrs: [203.0.113.20/32], ports: [7]}]
"""

HAPROXY = f"""\
global
  maxconn 256
defaults
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend v2
  bind {VIP}:7
  default_backend gw_v2
backend gw_v2
  server egressd 192.0.2.1:{REDIRECT_PORT} send-proxy-v2 source {LB} check inter 200ms check-send-proxy
frontend v1
  bind {VIP}:9
  default_backend gw_v1
backend gw_v1
  server egressd 192.0.2.1:{REDIRECT_PORT} send-proxy source {LB}
"""

# One raw TCP connection: optional bind address, bytes to send, then read until EOF/reset/timeout.
RAW = r"""
import errno, json, socket, sys, time
bind, host, port, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), bytes.fromhex(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
if bind:
    s.bind((bind, 0))
out = {"connected": False, "recv": "", "end": "timeout"}
try:
    s.settimeout(5)
    s.connect((host, port))
    out["connected"] = True
    out["local"] = "%s:%d" % s.getsockname()
    time.sleep(0.2)
    s.sendall(payload)
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError as e:
        # ENOTCONN: the peer's RST arrived between the send and the shutdown.
        if e.errno != errno.ENOTCONN:
            raise
        raise ConnectionResetError() from e
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            out["end"] = "eof"
            break
        data += chunk
    out["recv"] = data.decode("latin-1")
except ConnectionResetError:
    out["end"] = "reset"
except socket.timeout:
    out["end"] = "timeout"
except OSError as e:
    out["end"] = "error: %s" % e
print(json.dumps(out))
"""


def raw(t: harness.Case, bind: str, dst: str, payload: bytes) -> dict:
    host, _, port = dst.rpartition(":")
    p = t.sb.exec(t.sb.client, [PYTHON, "-c", RAW, bind, host, port, payload.hex()], check=False,
                  timeout=30)
    t.require(p.returncode == 0, f"raw client to {dst} ran", p.stderr[-1000:])
    return json.loads(p.stdout)


def v2_header(src: str, dst: str, sport: int, dport: int) -> bytes:
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    block = (bytes(int(x) for x in src.split(".")) + bytes(int(x) for x in dst.split(".")) +
             sport.to_bytes(2, "big") + dport.to_bytes(2, "big"))
    return sig + b"\x21\x11" + len(block).to_bytes(2, "big") + block


def run(t: harness.Case) -> None:
    t.require(shutil.which("haproxy") is not None, "haproxy installed")
    sb = t.sb
    # The balancer's address beside the client's, and the addresses it intercepts / its clients
    # use, on the client namespace's loopback.
    sb.ip(sb.client, "addr", "add", f"{LB}/24", "dev", IF_CLIENT)
    for a in (VIP, CLIENT, OTHER):
        sb.ip(sb.client, "addr", "add", f"{a}/32", "dev", "lo")

    vip_up = t.upstream("echo", [f"{VIP}:7", f"{VIP}:9"], "vip")
    direct_up = t.upstream("echo", [DIRECT], "direct")
    gw = t.egressd(POLICY, config={
        "listeners": [{"name": "egress", "address": f"[::]:{REDIRECT_PORT}",
                       "destination": "original_dst",
                       "proxy_protocol": {"trusted": [f"{LB}/32"]},
                       "peek": {"timeout": "1s"}}]})

    cfg = sb.dir / "haproxy.cfg"
    cfg.write_text(HAPROXY)
    check = sb.exec(sb.client, ["haproxy", "-c", "-f", str(cfg)], check=False)
    t.require(check.returncode == 0, "haproxy accepts its config", check.stdout + check.stderr)
    ha = sb.spawn(sb.client, "haproxy", ["haproxy", "-db", "-f", str(cfg)])
    sb.wait_listening(sb.client, 7, proc=ha)
    sb.wait_listening(sb.client, 9, proc=ha)

    # --- health checks: PROXY v2 LOCAL, closed, counted, never audited ---------------------------
    deadline = time.monotonic() + 10
    local = 0.0
    while time.monotonic() < deadline:
        samples, _, _ = observe.scrape(sb)
        local = observe.value(samples, "egressd_proxy_local_connections_total", listener="egress")
        if local >= 2:
            break
        time.sleep(0.2)
    t.check(local >= 2, "the balancer's LOCAL health checks are counted in "
            "egressd_proxy_local_connections_total", f"{local}")

    # --- through the balancer: the header's client decides -----------------------------------------
    for port, version in ((7, "v2"), (9, "v1")):
        msg = f"via the balancer {version}\n".encode()
        r = raw(t, CLIENT, f"{VIP}:{port}", msg)
        t.check_eq(r["recv"], msg.decode(), f"{version}: {CLIENT} through the balancer gets its echo",
                   json.dumps(r))
        recs = gw.wait_records(event="connection.decision", src_host=CLIENT,
                               dst=f"{VIP}:{port}")
        if not t.check(len(recs) == 1, f"{version}: one decision record for {CLIENT} → {VIP}:{port}",
                       "\n".join(audit.pretty(x) for x in gw.records()[-5:])):
            continue
        d = recs[0]
        t.check_eq(d.get("decision"), "allow", f"{version}: allowed")
        t.check_eq(d.get("rule"), "lb-client-to-vip", f"{version}: by the source rule")
        t.check_eq(audit.host(d.get("src")), CLIENT, f"{version}: src is the original client")
        t.check_eq(audit.host(d.get("proxy_src")), LB, f"{version}: proxy_src is the balancer")
        t.check_eq(audit.endpoint(d.get("dst")), f"{VIP}:{port}",
                   f"{version}: dst is the header's destination (SO_ORIGINAL_DST not used)")
        closes = audit.matching(gw.wait_records(event="connection.close", conn_id=d.get("conn_id")),
                                event="connection.close")
        if t.check(len(closes) == 1, f"{version}: its close record"):
            t.check_eq(audit.host(closes[0].get("src")), CLIENT, f"{version}: close src is the client")
            t.check_eq(closes[0].get("bytes_up"), len(msg), f"{version}: no header byte went upstream")
    t.check_eq(len(vip_up.accepts()), 2, "the VIP upstream accepted the two allowed connections")

    r = raw(t, OTHER, f"{VIP}:7", b"not me\n")
    t.check_eq(r["recv"], "", f"{OTHER} through the same balancer gets nothing", json.dumps(r))
    d = t.check_record(gw, f"{OTHER}: one deny record", event="connection.decision",
                       src_host=OTHER, decision="deny")
    if d:
        t.check_eq(d.get("reason"), "default", f"{OTHER}: denied by default (the balancer's own "
                   "address does not make it allowed)")
        t.check_eq(audit.host(d.get("proxy_src")), LB, f"{OTHER}: proxy_src is the balancer")
    t.check_eq(len(vip_up.accepts()), 2, f"{OTHER}: the VIP upstream accepted no more")

    # --- an untrusted client cannot claim another source ----------------------------------------
    r = raw(t, "", DIRECT, b"direct\n")
    t.check_eq(r["recv"], "direct\n", "the untrusted client without a header is relayed as before",
               json.dumps(r))
    t.check_eq(len(direct_up.accepts()), 1, "the direct upstream accepted that one connection")
    for version, header in (("v1", f"PROXY TCP4 {CLIENT} {VIP} 40000 7\r\n".encode()),
                            ("v2", v2_header(CLIENT, VIP, 40000, 7))):
        r = raw(t, "", DIRECT, header + b"forged\n")
        t.check(r["connected"], f"forged {version}: the redirect accepts the connection", json.dumps(r))
        t.check_eq(r["recv"], "", f"forged {version}: no byte comes back")
        t.check_eq(r["end"], "reset", f"forged {version}: the client is reset")
        d = t.check_record(gw, f"forged {version}: one deny record", event="connection.decision",
                           src=r.get("local"), decision="deny")
        if d:
            t.check_eq(d.get("reason"), "proxy_header_untrusted", f"forged {version}: reason")
            t.check("proxy_src" not in d, f"forged {version}: no proxy_src", json.dumps(d))
            t.check_eq(audit.host(d.get("src")), "192.0.2.2", f"forged {version}: src is the real peer")
    t.check_eq(len(direct_up.accepts()), 1, "forged headers: the upstream accepted 0 connections "
               "(no SYN left egressd), although a rule allows the real peer")
    t.check_eq(len(vip_up.accepts()), 2, "forged headers: the claimed destination accepted none")

    # --- the trusted address without a header ---------------------------------------------------
    r = raw(t, LB, DIRECT, b"no header\n")
    t.check_eq(r["end"], "reset", "the balancer's address without a header is reset", json.dumps(r))
    d = t.check_record(gw, "no header from the balancer: one deny record",
                       event="connection.decision", src=r.get("local"), decision="deny")
    if d:
        t.check_eq(d.get("reason"), "proxy_header_invalid", "no header from the balancer: reason")
    t.check_eq(len(direct_up.accepts()), 1, "no header from the balancer: nothing upstream")

    # LOCAL checks left no record: the balancer's address is the src of exactly the one above.
    lb_recs = [x for x in gw.records() if x.get("event") == "connection.decision"
               and audit.host(x.get("src")) == LB]
    t.check_eq(len(lb_recs), 1, "health checks wrote no decision record")
    samples, _, _ = observe.scrape(sb)
    t.check(observe.value(samples, "egressd_connections_total", reason="proxy_header_untrusted") == 2,
            "egressd_connections_total counts the two proxy_header_untrusted denials")
    observe.check_schema(t, gw.records(), "proxy_protocol")


harness.main(run)
