#!/usr/bin/env python3
"""limits.max_pending and limits.per_source: one source's idle handshakes cannot starve the others.

Issue 17 item 4: 200 idle TCP connections to a TLS listener (`max_connections: 200`) made every new
client get `over_limit` until `handshake_timeout`. Here, on a TLS listener with max_connections
200, max_pending 50, per_source 20 and a long handshake_timeout:

1. A client from 192.0.2.3 finishes its handshake and stays relayed: it holds a connection slot
   but no pending slot (egressd_pending_connections 0, egressd_active_connections 1).
2. Source 192.0.2.2 opens N idle connections (TCP only, never a ClientHello; N = 10,000 unless
   EGRESS_E2E_IDLE_N says otherwise) while 192.0.2.3 keeps making mTLS connections: every one of
   those succeeds; 20 of the flood are held pending, the other N - 20 are reset and audited
   deny/over_source_limit (and counted in egressd_connections_total), nothing reaches upstream.
3. Sources 192.0.2.4 and .5 open 20 idle connections each: the pending budget (50) fills, the last
   10 of .5 are audited over_pending_limit, and so is a new client from 192.0.2.3 (the budget is
   global: documented). When .4's connections end (decided: tls_handshake_failed), their pending
   slots come back and 192.0.2.3 is served again.
"""

import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
import tls_pki  # noqa: E402
from sandbox import IF_CLIENT, PYTHON  # noqa: E402

POLICY = """\
kind: Settings
default: deny
mode: enforce
---
kind: Role
name: payments
members:
  - identity: "spiffe://corp.example/ns/payments/sa/*"
---
kind: Rule
id: payments-to-echo
action: allow
from: [{role: payments}]
to: [{cidrs: [203.0.113.20/32], ports: [8443]}]
"""

ECHO = "203.0.113.20:8443"
ATTACKER, GOOD, OTHER_B, OTHER_C = "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"
N = int(os.environ.get("EGRESS_E2E_IDLE_N", "10000"))
MAX_PENDING, PER_SOURCE = 50, 20

# Opens N TCP connections from SRC and never sends a byte (an idle TLS handshake); writes a JSON
# summary to READY once all are open, then holds them until killed.
FLOOD = r"""
import json, resource, socket, sys, time
src, host, port, n, ready = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks, failed, reset = [], {}, 0
t0, wall0 = time.monotonic(), time.time()
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_IP, 24, 1)  # IP_BIND_ADDRESS_NO_PORT: the port is chosen at connect
    s.bind((src, 0))
    s.settimeout(10)
    try:
        s.connect((host, port))
        socks.append(s)
    except ConnectionResetError:
        # The handshake completed (a refused one is ECONNREFUSED) and the gateway's RST came before
        # connect() returned: accepted, and already refused.
        reset += 1
        s.close()
    except OSError as e:
        failed[type(e).__name__] = failed.get(type(e).__name__, 0) + 1
        s.close()
with open(ready + ".tmp", "w") as f:
    json.dump({"opened": len(socks) + reset, "reset_at_connect": reset, "failed": failed, "s": round(time.monotonic() - t0, 3),
               "t0": wall0, "t1": time.time()}, f)
import os; os.rename(ready + ".tmp", ready)
time.sleep(3600)
"""

# mTLS clients from SRC, one after another, each sending a line and reading it back; prints one
# JSON result per connection (with its wall-clock end). COUNT 0: until the file UNTIL exists.
# HOLD > 0: the last one stays open that long after its echo (and writes READY when it got it).
GOOD_CLIENT = r"""
import itertools, json, os, socket, ssl, sys, time
src, host, port, pki, count, hold, ready = (sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4],
                                            int(sys.argv[5]), float(sys.argv[6]), sys.argv[7])
until = sys.argv[8] if len(sys.argv) > 8 else None
ctx = ssl.create_default_context(cafile=pki + "/ca.pem")
ctx.load_cert_chain(pki + "/payments.pem", pki + "/payments.key")
for i in (range(count) if count else itertools.count()):
    if until and os.path.exists(until):
        break
    r = {"i": i, "ok": False}
    try:
        s = socket.socket()
        s.settimeout(10)
        s.bind((src, 0))  # the port is known before connect(), which a reset may cut short
        r["local"] = "%s:%d" % s.getsockname()[:2]
        s.connect((host, port))
        t = ctx.wrap_socket(s, server_hostname="egressd.local")
        line = ("good %d\n" % i).encode()
        t.sendall(line)
        got = b""
        while len(got) < len(line):
            b = t.recv(len(line) - len(got))
            if not b:
                break
            got += b
        r["ok"] = got == line
        if not r["ok"]:
            r["error"] = "echo %r" % got
        if hold and i == count - 1:
            open(ready, "w").write("ok" if r["ok"] else "failed")
            time.sleep(hold)
        t.close()
    except (OSError, ssl.SSLError) as e:
        r["error"] = "%s: %s" % (type(e).__name__, e)
    r["t"] = time.time()
    print(json.dumps(r), flush=True)
"""


def metrics(t: harness.Case) -> str:
    p = t.sb.exec(t.sb.gateway, [PYTHON, "-c", tls_pki._METRICS, "http://127.0.0.1:9901/metrics"],
                  check=False, timeout=20)
    return p.stdout


def metric(text: str, name: str, **labels) -> int | None:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pat = re.compile("^" + re.escape(name + ("{" + want + "}" if want else "")) + r" (\d+)$", re.M)
    m = pat.search(text)
    return int(m.group(1)) if m else None


def wait_metric(t: harness.Case, name: str, want: int, timeout: float = 30.0, **labels) -> int | None:
    deadline = time.monotonic() + timeout
    while True:
        got = metric(metrics(t), name, **labels)
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def flood(t: harness.Case, src: str, n: int, name: str):
    ready = t.sb.dir / f"{name}.ready"
    proc = t.sb.spawn(t.sb.client, name, [PYTHON, "-c", FLOOD, src, "203.0.113.20", "8443", str(n),
                                          str(ready)])
    return proc, ready


def wait_file(path, proc, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if not proc.running():
            raise harness.CheckFailed(f"{proc.name} exited: {proc.stderr_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise harness.CheckFailed(f"{proc.name}: not done after {timeout}s")
        time.sleep(0.1)
    return json.loads(path.read_text())


def good_clients(t: harness.Case, pki, count: int) -> list[dict]:
    p = t.sb.exec(t.sb.client, [PYTHON, "-c", GOOD_CLIENT, GOOD, "203.0.113.20", "8443", str(pki),
                                str(count), "0", "-"], check=False, timeout=120)
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def decisions(gw, reason: str, src_host: str) -> list[dict]:
    return [r for r in audit.matching(gw.records(), event="connection.decision", reason=reason)
            if audit.host(r.get("src")) == src_host]


def run(t: harness.Case) -> None:
    for addr in (GOOD, OTHER_B, OTHER_C):
        t.sb.ip(t.sb.client, "addr", "add", f"{addr}/24", "dev", IF_CLIENT)
    pki = tls_pki.make_pki(t.sb, t.args.source_dir)
    up = t.upstream("echo", [ECHO])
    listener = tls_pki.tls_listener(pki, handshake_timeout="300s")
    gw = t.egressd(POLICY, {"listeners": [listener],
                            "limits": {"max_connections": 200, "max_pending": MAX_PENDING,
                                       "per_source": PER_SOURCE}})

    # 1. A relayed connection holds a connection slot, not a pending one.
    held_ready = t.sb.dir / "held.ready"
    held = t.sb.spawn(t.sb.client, "held", [PYTHON, "-c", GOOD_CLIENT, GOOD, "203.0.113.20", "8443",
                                            str(pki), "1", "600", str(held_ready)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not held_ready.exists():
        time.sleep(0.05)
    t.require(held_ready.exists() and held_ready.read_text() == "ok",
              f"a client from {GOOD} is relayed and stays connected", held.stderr_text()[-1000:])
    m = metrics(t)
    t.check_eq(metric(m, "egressd_pending_connections", listener="egress"), 0,
               "a relayed connection holds no pending slot")
    t.check_eq(metric(m, "egressd_active_connections", listener="egress"), 1,
               "it holds a connection slot")

    # 2. One source floods idle handshakes while another keeps being served.
    accepted_before = len(up.accepts())
    # The other source connects over and over, from before the flood until after it.
    stop = t.sb.dir / "good.stop"
    steady = t.sb.spawn(t.sb.client, "good", [PYTHON, "-c", GOOD_CLIENT, GOOD, "203.0.113.20", "8443",
                                              str(pki), "0", "0", "-", str(stop)])
    while not steady.stdout_path.read_text().strip():
        if not steady.running():
            t.require(False, f"{GOOD}: the steady client runs", steady.stderr_text()[-1000:])
        time.sleep(0.05)
    attacker, attacker_ready = flood(t, ATTACKER, N, "flood-a")
    summary = wait_file(attacker_ready, attacker, 120)
    print(f"flood from {ATTACKER}: {summary}")
    t.check_eq(summary["opened"], N, f"{ATTACKER}: all {N} idle connections were accepted by the kernel")
    time.sleep(0.5)
    stop.write_text("")
    steady.wait(timeout=30)
    results = [json.loads(line) for line in steady.stdout_path.read_text().splitlines() if line.strip()]
    during = [r for r in results if summary["t0"] <= r["t"] <= summary["t1"]]
    bad = [r for r in results if not r["ok"]]
    print(f"{GOOD}: {len(results)} connections, {len(during)} of them during the flood")
    t.check(len(during) >= 1 and results[-1]["t"] > summary["t1"] and not bad,
            f"{GOOD}: every connection before, during ({len(during)}) and after the flood is served",
            str(bad[:3]))
    refused = N - PER_SOURCE
    found = gw.wait_records(timeout=60, count=refused, event="connection.decision",
                            reason="over_source_limit")
    t.check_eq(len(found), refused, f"{ATTACKER}: {refused} decision records over_source_limit")
    t.check(all(audit.host(r.get("src")) == ATTACKER and r.get("decision") == "deny"
                and audit.endpoint(r.get("dst")) == ECHO for r in found),
            "each names the source, deny and the original destination")
    m = metrics(t)
    t.check_eq(metric(m, "egressd_connections_total", listener="egress", decision="deny",
                      reason="over_source_limit"), refused, "egressd_connections_total over_source_limit")
    t.check_eq(metric(m, "egressd_pending_connections", listener="egress"), PER_SOURCE,
               f"{ATTACKER} holds {PER_SOURCE} pending slots, no more")
    t.check_eq(metric(m, "egressd_connection_sources"), 2, "two sources have live connections")
    t.check_eq(len(up.accepts()) - accepted_before, len(results),
               "upstream accepted the good client's connections and nothing of the flood")

    # 3. The pending budget: 20 + 20 + 10 pending from three sources fill it.
    b, b_ready = flood(t, OTHER_B, PER_SOURCE, "flood-b")
    wait_file(b_ready, b, 30)
    t.check_eq(wait_metric(t, "egressd_pending_connections", 2 * PER_SOURCE, listener="egress"),
               2 * PER_SOURCE, f"{OTHER_B}'s idle connections are pending")
    c, c_ready = flood(t, OTHER_C, PER_SOURCE, "flood-c")
    wait_file(c_ready, c, 30)
    over = MAX_PENDING - 2 * PER_SOURCE
    deadline = time.monotonic() + 30
    while len(decisions(gw, "over_pending_limit", OTHER_C)) < PER_SOURCE - over and time.monotonic() < deadline:
        time.sleep(0.1)
    t.check_eq(len(decisions(gw, "over_pending_limit", OTHER_C)), PER_SOURCE - over,
               f"{OTHER_C}: the connections past max_pending are refused over_pending_limit")
    t.check_eq(metric(metrics(t), "egressd_pending_connections", listener="egress"), MAX_PENDING,
               "the pending budget is full")
    r = good_clients(t, pki, 1)
    t.check(len(r) == 1 and not r[0]["ok"], f"{GOOD}: refused while the pending budget is full", str(r))
    dec = gw.wait_records(timeout=5, event="connection.decision", src=r[0]["local"]) if r else []
    t.check(bool(dec) and dec[-1].get("reason") == "over_pending_limit",
            f"{GOOD}: its decision record says over_pending_limit", str(dec[-1:]))
    t.check_eq(metric(metrics(t), "egressd_connections_total", listener="egress", decision="deny",
                      reason="over_pending_limit"), PER_SOURCE - over + 1,
               "egressd_connections_total over_pending_limit")

    # Decided connections give their pending slots back: .4's end (handshake failed: EOF).
    b.stop()
    t.check_eq(wait_metric(t, "egressd_pending_connections", MAX_PENDING - PER_SOURCE, listener="egress"),
               MAX_PENDING - PER_SOURCE, f"{OTHER_B}'s closed connections gave their pending slots back")
    r = good_clients(t, pki, 1)
    t.check(len(r) == 1 and r[0]["ok"], f"{GOOD}: served again", str(r))
    held.stop()
    attacker.stop()
    c.stop()


harness.main(run, watchdog_s=280)
