#!/usr/bin/env python3
"""The egressd agent (issue 20, section 2): a workload with no proxy configuration at all reaches
the internet through an agent that carries each connection to a central egressd in mTLS.

    client ns: Python requests / ssl, no proxy ─REDIRECT→ agent ([::]:15001, no policy.dir,
    upstream.via localhost:15443) ─mTLS CONNECT <orig-dst>→ central (127.0.0.1:15443,
    destination: connect, tls required) → upstream servers in the internet ns

The central gateway decides with the agent certificate's identity (payments) and the SNI it reads
inside the tunnel (the agent pipelines the workload's ClientHello behind its CONNECT head). Checks:
an allowed destination gets its bytes, the agent's records (decision `default` under its built-in
policy, close with `via_conn`) and the central's (decision with `agent_conn`, the identity) join
both ways; a denied destination is reset, nothing reaches it, the agent's close record says
`via_denied` with the gateway's 403 status line and body; the SNI decides a hostname rule; with
the agent's certificate replaced and SIGHUP, the next tunnel presents the new identity; with the
gateway gone, the agent resets the workload and its close record names the gateway.
"""

import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import gateway  # noqa: E402
import harness  # noqa: E402
import tls_pki  # noqa: E402
import yaml  # noqa: E402
from sandbox import PYTHON, REDIRECT_PORT  # noqa: E402

CENTRAL_PORT = 15443
PAYMENTS = "spiffe://corp.example/ns/payments/sa/api"

CENTRAL_POLICY = """\
kind: Settings
default: deny
mode: enforce
host_verification: off
---
kind: Role
name: agents
members:
  - identity: "spiffe://corp.example/ns/payments/sa/*"
---
kind: Rule
id: agents-to-web
action: allow
from: [{role: agents}]
to: [{cidrs: [203.0.113.10/32], ports: [80]}]
---
kind: Rule
id: agents-to-api
action: allow
from: [{role: agents}]
to: [{hosts: [api.lab.example], ports: [8443]}]
"""

# An HTTPS server for api.lab.example: answers one GET per connection.
HTTPS_SERVER = r"""
import socket, ssl, sys, threading
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
srv = socket.create_server((sys.argv[1], 8443))
def serve(c):
    try:
        with ctx.wrap_socket(c, server_side=True) as s:
            s.recv(4096)
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nhello api")
    except Exception as e:
        print(e, flush=True)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

# The workload: Python requests with no proxy configuration at all (the environment's *_proxy
# ignored too), the status and body.
REQUESTS_CLIENT = r"""
import json, sys
import requests
session = requests.Session()
session.trust_env = False
out = {}
try:
    r = session.get(sys.argv[1], timeout=5)
    out = {"status": r.status_code, "body": r.text}
except Exception as e:
    out = {"error": type(e).__name__ + ": " + str(e)}
print(json.dumps(out))
"""

# The workload over TLS: SNI api.lab.example to an address, trusting the server's certificate.
TLS_CLIENT = r"""
import json, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[3])
out = {}
try:
    with socket.create_connection((sys.argv[1], 8443), timeout=5) as raw:
        out["local"] = "%s:%d" % raw.getsockname()[:2]
        with ctx.wrap_socket(raw, server_hostname=sys.argv[2]) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: " + sys.argv[2].encode() + b"\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            out["body"] = data.decode(errors="replace")
except Exception as e:
    out["error"] = type(e).__name__ + ": " + str(e)
print(json.dumps(out))
"""


def use_agent_cert(work, pki, name: str) -> None:
    """The agent's certificate files (work/agent.pem, agent.key) become dev PKI's `name`."""
    for ext in ("pem", "key"):
        dst = work / f"agent.{ext}"
        dst.write_bytes((pki / f"{name}.{ext}").read_bytes())
        dst.chmod(0o600)


def start_agent(t: harness.Case, pki) -> gateway.Gateway:
    """The agent: a transparent listener, no policy.dir, upstream.via the central gateway (by
    name: localhost resolves when dialling, ::1 refused then 127.0.0.1)."""
    work = t.sb.dir / "agent"
    work.mkdir(parents=True, exist_ok=True)
    use_agent_cert(work, pki, "payments")
    cfg = {
        "workers": 2,
        "listeners": [{"name": "capture", "address": f"[::]:{REDIRECT_PORT}",
                       "destination": "original_dst"}],
        "upstream": {
            "connect_timeout": "2s",
            "via": {"address": f"localhost:{CENTRAL_PORT}", "tunnel": "connect",
                    "tls": {"cert": str(work / "agent.pem"), "key": str(work / "agent.key"),
                            "ca": str(pki / "ca.pem"), "server_name": "egressd.local"}},
        },
        "audit": {"path": str(work / "audit.jsonl")},
        "admin": {"address": "127.0.0.1:9901"},
        "drain_timeout": "2s",
    }
    path = work / "egressd.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = t.sb.spawn(t.sb.gateway, "agent", [t.args.egressd, "--config", str(path)])
    gw = gateway.Gateway(t.sb, proc, path, cfg, work, work / "audit.jsonl")
    gateway.wait_gateway_ready(gw)
    t.gateways.append(gw)
    return gw


def run(t: harness.Case) -> None:
    pki = tls_pki.make_pki(t.sb, t.args.source_dir)
    api_pem = t.sb.dir / "api.pem"
    api_key = t.sb.dir / "api.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "2", "-subj", "/CN=api.lab.example",
                    "-addext", "subjectAltName=DNS:api.lab.example", "-keyout", str(api_key),
                    "-out", str(api_pem)], check=True, capture_output=True, timeout=30)
    web = t.upstream("http", ["203.0.113.10:80"], "web")
    denied = t.upstream("http", ["203.0.113.99:80"], "denied")
    t.sb.spawn(t.sb.internet, "api", [PYTHON, "-c", HTTPS_SERVER, "203.0.113.10", str(api_pem),
                                      str(api_key)])
    t.sb.wait_listening(t.sb.internet, 8443, 10)

    central = t.egressd({"policy.yaml": CENTRAL_POLICY}, {
        "listeners": [{"name": "connect", "address": f"127.0.0.1:{CENTRAL_PORT}",
                       "destination": "connect",
                       "tls": {"mode": "required", "cert": str(pki / "gateway.pem"),
                               "key": str(pki / "gateway.key"), "client_ca": str(pki / "ca.pem")}}],
        "admin": {"address": "127.0.0.1:9902"},
    }, name="central")
    agent = start_agent(t, pki)

    # --- allowed: requests, no proxy -------------------------------------------------------------
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    p = t.sb.exec(t.sb.client, [PYTHON, "-c", REQUESTS_CLIENT, "http://203.0.113.10/"], check=False,
                  timeout=30, env=env)
    r = json.loads(p.stdout or "{}")
    t.check_eq(r.get("status"), 200, "requests through the agent: 200 from the allowed upstream",
               p.stdout + p.stderr)
    t.check(bool(r.get("body")), "requests through the agent: the upstream's body arrives", str(r))

    a_dec = t.check_record(agent, "agent: one allow decision for 203.0.113.10:80",
                           event="connection.decision", decision="allow")
    if a_dec:
        t.check_eq(a_dec.get("reason"), "default",
                   "agent without policy.dir: its built-in policy allows by the default")
        t.check_eq(audit.endpoint(a_dec.get("dst")), "203.0.113.10:80", "agent decision: dst")
    a_close = t.check_record(agent, "agent: one close record", timeout=10,
                             event="connection.close", conn_id=a_dec.get("conn_id") if a_dec else None)
    c_dec = t.check_record(central, "central: one allow decision, joined by agent_conn",
                           event="connection.decision",
                           agent_conn=a_dec.get("conn_id") if a_dec else None)
    if c_dec and a_close:
        t.check_eq(c_dec.get("decision"), "allow", "central: allowed")
        t.check_eq(c_dec.get("rule"), "agents-to-web", "central: the rule over the agent's identity")
        t.check_eq((c_dec.get("identity") or {}).get("spiffe_id"), PAYMENTS,
                   "central: the identity is the agent's certificate")
        t.check_eq(audit.endpoint(c_dec.get("dst")), "203.0.113.10:80",
                   "central: the destination is the workload's original one")
        t.check_eq(a_close.get("via_conn"), c_dec.get("conn_id"),
                   "agent close record: via_conn is the central's conn_id")
        t.check_eq(a_close.get("reason"), "eof", "agent close record: eof")
        t.check(a_close.get("bytes_down", 0) > 0, "agent close record counts the bytes down",
                str(a_close))
    t.check_eq(len(web.accepts()), 1, "the allowed upstream accepted one connection")

    # --- denied by the central gateway -----------------------------------------------------------
    r = t.client("--dst", "203.0.113.99:80", "--send", "GET / HTTP/1.0\r\n\r\n", "--delay-send", "0.3",
                 "--timeout", "5")
    t.check_eq(r.get("recv_len"), 0, "denied: the workload receives no byte")
    t.check_eq(r.get("end"), "reset", "denied: the workload's connection is reset")
    a_dec = t.check_record(agent, "agent: the denied connection's decision (allowed locally)",
                           event="connection.decision", src=r.get("local"))
    a_close = t.check_record(agent, "agent: close record via_denied", timeout=10,
                             event="connection.close", reason="via_denied",
                             conn_id=a_dec.get("conn_id") if a_dec else None)
    c_dec = t.check_record(central, "central: deny decision joined by agent_conn",
                           event="connection.decision",
                           agent_conn=a_dec.get("conn_id") if a_dec else None)
    if a_close and c_dec:
        t.check_eq(c_dec.get("decision"), "deny", "central: denied")
        t.check_eq(c_dec.get("reason"), "default", "central: by the default")
        t.check_eq(a_close.get("via_conn"), c_dec.get("conn_id"),
                   "agent close record: via_conn is the central's deny decision")
        t.check(str(a_close.get("detail", "")).startswith("HTTP/1.1 403 Forbidden: egressd:"),
                "agent close record: the detail has the 403 status line and body line",
                str(a_close.get("detail")))
        t.check_eq(a_close.get("closed_by"), "upstream", "agent close record: closed by upstream")
    t.check_no_upstream_accept(denied, "denied: 203.0.113.99 accepted no connection")

    # --- the SNI read inside the tunnel decides a hostname rule ----------------------------------
    p = t.sb.exec(t.sb.client, [PYTHON, "-c", TLS_CLIENT, "203.0.113.10", "api.lab.example",
                                str(api_pem)], check=False, timeout=30)
    r = json.loads(p.stdout or "{}")
    t.check("hello api" in r.get("body", ""), "TLS with SNI api.lab.example: the body arrives",
            p.stdout + p.stderr)
    a_dec = t.check_record(agent, "agent: the TLS connection's decision", event="connection.decision",
                           src=r.get("local"))
    c_dec = t.check_record(central, "central: the TLS connection's decision",
                           event="connection.decision",
                           agent_conn=a_dec.get("conn_id") if a_dec else None)
    if c_dec:
        t.check_eq(c_dec.get("rule"), "agents-to-api", "central: the hostname rule decided")
        t.check_eq(c_dec.get("host"), "api.lab.example", "central: the SNI read inside the tunnel")
        t.check_eq(c_dec.get("name_source"), "sni", "central: name_source sni")
        t.check_eq((c_dec.get("identity") or {}).get("spiffe_id"), PAYMENTS,
                   "central: the agent's identity")

    # --- SIGHUP: the agent's certificate is read again; the next tunnel presents the new one -----
    use_agent_cert(agent.policy_dir, pki, "analytics")
    agent.reload()
    rel = t.check_record(agent, "agent: one reload record, ok", event="policy.reload", result="ok")
    if rel:
        t.check_eq((rel.get("parts") or {}).get("tls", {}).get("result"), "ok",
                   "agent reload: the tls part (upstream.via.tls) reloaded")
    r = t.client("--dst", "203.0.113.10:80", "--send", "GET / HTTP/1.0\r\n\r\n", "--delay-send", "0.3",
                 "--timeout", "5")
    a_dec = t.check_record(agent, "after SIGHUP: the agent's decision", event="connection.decision",
                           src=r.get("local"))
    c_dec = t.check_record(central, "after SIGHUP: the central's decision",
                           event="connection.decision",
                           agent_conn=a_dec.get("conn_id") if a_dec else None)
    if c_dec:
        t.check_eq((c_dec.get("identity") or {}).get("spiffe_id"),
                   "spiffe://corp.example/ns/analytics/sa/etl",
                   "after SIGHUP: the central sees the reloaded certificate (no old session resumed)")
        t.check_eq(c_dec.get("decision"), "deny", "after SIGHUP: that identity has no rule")
    t.check_eq(r.get("end"), "reset", "after SIGHUP: the denied workload is reset")
    # A key that does not match: the reload fails naming the key and file; the running one stays.
    (agent.policy_dir / "agent.key").write_bytes((pki / "payments.key").read_bytes())
    agent.reload()
    bad = t.check_record(agent, "agent: a failed reload record", event="policy.reload",
                         result="failed")
    if bad:
        errors = " ".join(bad.get("errors") or [])
        t.check(f"upstream.via.tls.key: {agent.policy_dir / 'agent.key'}: private key does not match"
                in errors, "failed reload: the error names upstream.via.tls.key and its file", errors)

    r = t.client("--dst", "203.0.113.10:80", "--send", "GET / HTTP/1.0\r\n\r\n", "--delay-send", "0.3",
                 "--timeout", "5")
    a_dec = t.check_record(agent, "after the failed reload: the agent's decision",
                           event="connection.decision", src=r.get("local"))
    c_dec = t.check_record(central, "after the failed reload: the central's decision",
                           event="connection.decision",
                           agent_conn=a_dec.get("conn_id") if a_dec else None)
    if c_dec:
        t.check_eq((c_dec.get("identity") or {}).get("spiffe_id"),
                   "spiffe://corp.example/ns/analytics/sa/etl",
                   "after the failed reload: the running certificate stays")

    # --- the gateway gone: the agent's connect to it fails, named in the close record ------------
    t.check_eq(central.terminate(), 0, "central: exits on SIGTERM")
    r = t.client("--dst", "203.0.113.10:80", "--send", "GET / HTTP/1.0\r\n\r\n", "--timeout", "5")
    t.check_eq(r.get("recv_len"), 0, "gateway down: the workload receives no byte")
    t.check_eq(r.get("end"), "reset", "gateway down: the workload's connection is reset")
    a_dec = t.check_record(agent, "gateway down: the agent's decision", event="connection.decision",
                           src=r.get("local"))
    a_close = t.check_record(agent, "gateway down: close record upstream_refused", timeout=10,
                             event="connection.close", reason="upstream_refused",
                             conn_id=a_dec.get("conn_id") if a_dec else None)
    if a_close:
        detail = str(a_close.get("detail", ""))
        t.check(detail.startswith(f"gateway localhost:{CENTRAL_PORT} (") and "refused" in detail,
                "gateway down: the detail names the gateway and each address tried", detail)
        t.check("via_conn" not in a_close, "gateway down: no via_conn without an answer",
                str(a_close))
    t.check_eq(len(web.accepts()), 1, "gateway down: nothing more reached the upstream")


harness.main(run)
