#!/usr/bin/env python3
"""The admin endpoint (admin.address, loopback in the gateway namespace), as an operator uses it.

* /healthz 200, /readyz 200 when ready, 503 "draining" during a SIGTERM drain.
* /metrics: strict Prometheus text (every line a comment or `name{labels} value`, TYPE before
  samples, families together, no duplicate series, cumulative histograms); the counters match what
  the test did: 3 allowed (rule), 2 denied by default, 1 denied by rule, 3 closed with eof, the
  bytes each way, the decision and connect histograms' counts, the audit records written = lines
  in the file (under the names and types docs/audit.md documents), the policy rules and version;
  no label value is an address, endpoint or identity.
* A plain `curl` scrape: 200, the Prometheus content type, and the same text format.
* /policy JSON: version (= the audit records' policy_version), rule count, last reload "none";
  after a broken-policy SIGHUP: last reload "failed" with its errors naming the file, the old
  version and rule count still running (and still deciding); after a good one: "ok", new version.
* 404 for other paths, 405 (with Allow) for other methods, HEAD works.
* Malformed requests (garbage, binary, a bad request line or version or header line: 400 and
  close), a huge header and 5,000 header lines (431), a slow client (cut off after the 5 s read
  timeout) and 40 connections at once (16 served, the rest closed at accept, none left hanging):
  egressd still serves afterwards.
Every audit record of the run validates against docs/audit.schema.json.
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
import observe  # noqa: E402
from policies import LAB  # noqa: E402
from sandbox import PYTHON  # noqa: E402

BROKEN = """\
kind: Rule
id: broken-rule
action: allow
from: [{role: sandbox-clients}]
to: [{cidrs: [203.0.113.20/32]}]
colour: blue
"""
EXTRA = """\
kind: Rule
id: allow-99
action: allow
from: [{role: sandbox-clients}]
to: [{cidrs: [203.0.113.99/32], ports: [7]}]
"""
# commit: egressd_build_info's, one value per build.
LABELS = {"listener", "decision", "reason", "result", "direction", "le", "version", "part", "commit"}


def policy(t: harness.Case, check: bool = False) -> dict:
    r = observe.admin_get(t.sb, "/policy")
    ok = r["status"] == 200 and r["headers"].get("content-type", "").startswith("application/json")
    if check or not ok:
        t.check(ok, "/policy answers 200 application/json", str(r)[:300])
    return json.loads(r["body"])


def doc_fields(t: harness.Case, section: str) -> set[str]:
    """The top-level fields of docs/audit.md's table under `### <section>`."""
    text = open(os.path.join(t.args.source_dir, "docs", "audit.md")).read()
    body = text.split(f"\n### {section}\n", 1)[1].split("\n#", 1)[0]
    return {name for row in re.findall(r"^\| (`[^|]*) \|", body, re.M)
            for name in re.findall(r"`([a-z_]+)`", row)}


def run(t: harness.Case) -> None:
    up = t.upstream("echo", ["203.0.113.10:7", "203.0.113.20:7", "203.0.113.99:7", "203.0.113.66:7"])
    gw = t.egressd({"10-lab.yaml": LAB})
    sb = t.sb

    # --- probes -------------------------------------------------------------------------------
    h = observe.admin_get(sb, "/healthz")
    t.check_eq((h["status"], h["body"]), (200, "ok\n"), "/healthz 200 ok")
    t.check_eq(observe.admin_get(sb, "/readyz")["status"], 200, "/readyz 200 when ready")

    # --- traffic the counters must reflect ---------------------------------------------------------
    sent = 0
    sources = []
    for i in range(3):
        text = f"allowed-{i}\n"
        r = t.client("--dst", "203.0.113.10:7", "--send", text, "--shutdown", "--timeout", "5")
        t.check_eq(r["recv"], text, f"allowed connection {i} echoed")
        sent += len(text)
        sources.append(r["local"])
    for _ in range(2):
        t.check_denied(gw, t.upstreams, "203.0.113.99:7", "default")
    t.check_denied(gw, t.upstreams, "203.0.113.66:7", "rule", rule="deny-blocklist")
    for s in sources:
        t.check_record(gw, f"{s}: close record", event="connection.close", src=s)

    # --- /metrics ---------------------------------------------------------------------------------
    resp = observe.admin_get(sb, "/metrics")
    t.check_eq(resp["status"], 200, "/metrics 200")
    t.check(resp["headers"].get("content-type", "").startswith("text/plain; version=0.0.4"),
            "/metrics content type is the Prometheus text format 0.0.4", resp["headers"].get("content-type", ""))
    samples, types, errors = observe.parse_prometheus(resp["body"])
    t.check(not errors and len(samples) > 20, f"/metrics: {len(samples)} samples, every line a comment or "
            "`name{labels} value`, strict format holds", "\n      ".join(errors[:10]))
    v = lambda name, **kw: observe.value(samples, name, **kw)  # noqa: E731
    t.check_eq(v("egressd_connections_total", listener="egress", decision="allow", reason="rule"), 3,
               "connections_total allow/rule = 3")
    t.check_eq(v("egressd_connections_total", decision="deny", reason="default"), 2, "connections_total deny/default = 2")
    t.check_eq(v("egressd_connections_total", decision="deny", reason="rule"), 1, "connections_total deny/rule = 1")
    t.check_eq(v("egressd_connections_total"), 6, "connections_total sums to the 6 connections made")
    t.check_eq(v("egressd_connections_closed_total", reason="eof"), 3, "connections_closed_total eof = 3")
    t.check_eq(v("egressd_active_connections", listener="egress"), 0, "active_connections 0")
    t.check_eq((v("egressd_bytes_total", direction="up"), v("egressd_bytes_total", direction="down")),
               (sent, sent), f"bytes_total up and down = the {sent} bytes echoed")
    t.check_eq(v("egressd_decision_duration_seconds_count"), 6, "decision latency histogram counted 6 decisions")
    t.check_eq(v("egressd_upstream_connect_duration_seconds_count"), 3, "upstream connect histogram counted 3")
    t.check_eq(types.get("egressd_connections_total"), "counter", "connections_total is a counter")
    t.check_eq(types.get("egressd_decision_duration_seconds"), "histogram", "decision latency is a histogram")
    records = gw.records()
    t.check_eq(v("egressd_audit_records_written_total"), len(records),
               f"audit_records_written_total = the {len(records)} lines in the file")
    t.check_eq((v("egressd_audit_records_dropped_total"), v("egressd_audit_write_errors_total"),
                v("egressd_audit_queue_depth"), v("egressd_audit_sink_healthy")), (0, 0, 0, 1),
               "audit: nothing dropped, no write error, queue empty, sink healthy")
    # docs/audit.md's metrics table names what /metrics serves (it once named egress_audit_*).
    documented = re.findall(r"^\| `(egressd?_\w+)` \| (counter|gauge) \|",
                            open(os.path.join(t.args.source_dir, "docs", "audit.md")).read(), re.M)
    t.check(len(documented) == 5 and all(types.get(n) == k for n, k in documented),
            f"/metrics serves the {len(documented)} audit metrics docs/audit.md names, with their types",
            str([(n, k, types.get(n)) for n, k in documented]))
    t.check_eq((v("egressd_policy_reloads_total", result="ok"), v("egressd_policy_reloads_total", result="failed")),
               (0, 0), "no policy reloads yet")
    version = audit.matching(records, event="connection.decision")[0]["policy_version"]
    t.check_eq(v("egressd_policy_info", version=version), 1, "policy_info names the running policy version")
    t.check_eq(v("egressd_policy_rules"), 2, "policy_rules = 2 (deny-blocklist, clients-to-lab)")
    forbidden = {audit.host(r.get("src")) for r in records if r.get("src")} | \
                {audit.endpoint(r.get("src")) for r in records if r.get("src")} | \
                {audit.endpoint(r.get("dst")) for r in records if r.get("dst")} | \
                {audit.host(r.get("dst")) for r in records if r.get("dst")}
    forbidden.discard(None)
    bad = observe.unbounded_label_values(samples, forbidden)
    t.check(not bad, "no label value is an address, endpoint or identity", str(bad[:5]))
    names = {k for _, labels, _ in samples for k in labels}
    t.check(names <= LABELS, f"label names are bounded ({sorted(names)})", str(names - LABELS))

    # --- a plain curl scrape ----------------------------------------------------------------------
    c = observe.curl(sb, f"http://{observe.ADMIN}/metrics", "-D", "-")
    t.check_eq(c.returncode, 0, "curl scrape exits 0", c.stderr)
    head, _, body = c.stdout.replace("\r\n", "\n").partition("\n\n")  # (text mode may have done it)
    t.check(head.startswith("HTTP/1.1 200") and "text/plain; version=0.0.4" in head,
            "curl: HTTP/1.1 200 with the Prometheus content type", head)
    s2, _, e2 = observe.parse_prometheus(body)
    t.check(not e2 and {n for n, _, _ in s2} == {n for n, _, _ in samples},
            "curl: the scrape parses, with the same metric families", "; ".join(e2[:5]))

    # --- /policy and reloads ------------------------------------------------------------------
    p = policy(t, check=True)
    t.check_eq((p.get("version"), p.get("rule_count"), p.get("last_reload", {}).get("result")),
               (version, 2, "none"), "/policy: version, rule_count 2, no reload yet")
    utc_second = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    t.check(bool(utc_second.fullmatch(p.get("loaded_at", ""))), "/policy: loaded_at is RFC 3339 UTC",
            str(p))
    gw.write_policy({"10-lab.yaml": LAB, "20-broken.yaml": BROKEN})
    gw.reload()
    deadline = time.monotonic() + 5
    while p.get("last_reload", {}).get("result") == "none" and time.monotonic() < deadline:
        time.sleep(0.05)
        p = policy(t)
    last = p.get("last_reload", {})
    t.check_eq(last.get("result"), "failed", "broken policy: /policy last_reload.result failed", str(p))
    errs = last.get("errors") or []
    t.check(any("20-broken.yaml" in e and "colour" in e for e in errs),
            "broken policy: /policy lists the errors (file and key)", str(errs))
    t.check_eq((p.get("version"), p.get("rule_count")), (version, 2), "broken policy: the old version still runs")
    t.check(bool(utc_second.fullmatch(last.get("at", ""))), "broken policy: last_reload.at is RFC 3339 UTC",
            str(last))
    rec = t.check_record(gw, "a policy.reload record says failed", event="policy.reload", result="failed")
    if rec:
        t.check(rec["version"] == version and rec["errors"] and "20-broken.yaml" in rec["errors"][0],
                "the policy.reload record: old version, errors naming the file", str(rec))
        # What a SIEM rule may key on: docs/audit.md documents exactly the fields a failed reload
        # writes (it once documented an attempted_version that nothing wrote).
        documented = doc_fields(t, "Every record") | doc_fields(t, "`policy.reload`")
        t.check_eq(sorted(set(rec) - documented), [], "the failed policy.reload record: every field is documented")
        t.check_eq(sorted(documented - set(rec) - {"records_dropped"}), [],
                   "the failed policy.reload record: every field docs/audit.md documents is written")
    m, _, _ = observe.scrape(sb)
    t.check_eq(observe.value(m, "egressd_policy_reloads_total", result="failed"), 1, "reloads_total failed = 1")
    t.check_eq(observe.value(m, "egressd_policy_info", version=version), 1, "policy_info: still the old version")
    r = t.client("--dst", "203.0.113.99:7", "--send", "x\n", "--delay-send", "0.2", "--timeout", "5")
    t.check_eq((r["recv_len"], r["end"]), (0, "reset"), "broken policy: still deciding by the old one (.99 denied)")

    gw.write_policy({"10-lab.yaml": LAB, "20-extra.yaml": EXTRA})
    gw.reload()
    deadline = time.monotonic() + 5
    while p.get("last_reload", {}).get("result") != "ok" and time.monotonic() < deadline:
        time.sleep(0.05)
        p = policy(t)
    t.check(p.get("last_reload", {}).get("result") == "ok" and not p["last_reload"].get("errors")
            and p.get("version") != version and p.get("rule_count") == 3,
            "good policy: last_reload ok, no errors, a new version with 3 rules", str(p))
    m, _, _ = observe.scrape(sb)
    t.check_eq((observe.value(m, "egressd_policy_reloads_total", result="ok"), observe.value(m, "egressd_policy_rules"),
                observe.value(m, "egressd_policy_info", version=p.get("version"))), (1, 3, 1),
               "metrics: reloads ok 1, 3 rules, policy_info the new version")
    t.check_eq(observe.value(m, "egressd_policy_info", version=version), 0,
               "policy_info no longer names the old version")
    r = t.client("--dst", "203.0.113.99:7", "--send", "now\n", "--shutdown", "--timeout", "5")
    t.check_eq(r["recv"], "now\n", "good policy: .99 now allowed (rule allow-99)")

    # --- wrong paths and methods -----------------------------------------------------------------
    for path in ("/", "/nope", "/metrics/x", "/healthz/", "/policyx"):
        t.check_eq(observe.admin_get(sb, path)["status"], 404, f"GET {path} → 404")
    for method, path in (("POST", "/metrics"), ("PUT", "/policy"), ("DELETE", "/healthz"), ("POST", "/readyz")):
        r = observe.admin_get(sb, path, method=method, headers={"Content-Length": "0"})
        t.check(r["status"] == 405 and "GET" in r["headers"].get("allow", ""), f"{method} {path} → 405 with Allow",
                str(r)[:200])
    r = observe.admin_get(sb, "/healthz", method="HEAD")
    t.check_eq((r["status"], r["body"]), (200, ""), "HEAD /healthz → 200 without a body")
    t.check_eq(observe.admin_get(sb, "/metrics?name[]=x")["status"], 200, "a query string is ignored")

    # --- abuse: egressd keeps serving -----------------------------------------------------------
    def still_serving(what: str) -> None:
        r = observe.admin_get(sb, "/healthz")
        t.check(r["status"] == 200 and gw.proc.running(), f"after {what}: egressd alive, /healthz 200", str(r))

    for what, data in (("garbage", b"GARBAGE\r\n\r\n"),
                       ("binary", bytes(range(256)) * 4),
                       ("bad request line", b"GET\r\n\r\n"),
                       ("bad version", b"GET /metrics HTTP/9.9\r\n\r\n"),
                       ("bad header", b"GET /metrics HTTP/1.1\r\nNo colon here\r\n\r\n")):
        r = observe.admin_raw(sb, data, timeout=8)
        status = re.match(r"HTTP/1\.1 (\d+)", r["response"])
        print(f"info - {what}: {status.group(0) if status else 'no response'}, then {r['end']}")
        t.check(r["response"].startswith("HTTP/1.1 400 ") and r["end"] == "eof",
                f"{what}: answered 400 and closed", str(r)[:300])
        still_serving(what)
    big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
    r = observe.admin_raw(sb, big, chunk=4096, timeout=8)
    t.check(r["response"].startswith("HTTP/1.1 431"), "a 200 KB header → 431 and the connection closes",
            str(r)[:300])
    still_serving("a huge header")
    many = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n"
    r = observe.admin_raw(sb, many, chunk=4096, timeout=8)
    t.check(r["response"].startswith("HTTP/1.1 431"), "5,000 header lines → 431", str(r)[:300])
    still_serving("many headers")
    r = observe.admin_raw(sb, b"GET /metrics HTTP/1.1\r\nHost: x\r\n", timeout=15)
    t.check(r["end"] in ("eof", "reset") and 3 <= r["elapsed_s"] <= 10,
            "a slow client (request never finished) is cut off after the read timeout (5 s)", str(r))
    still_serving("a slow client")
    p = sb.exec(sb.gateway, [PYTHON, "-c", _MANY, observe.ADMIN, "40"], check=False, timeout=60)
    t.check(p.returncode == 0, "40 admin connections at once: none hangs", p.stdout + p.stderr)
    print(f"info - 40 admin connections at once: {p.stdout.strip()}")
    still_serving("40 connections at once")
    r = observe.admin_get(sb, "/metrics")
    t.check(r["status"] == 200 and not observe.parse_prometheus(r["body"])[2], "/metrics still whole after all that")

    # --- draining ------------------------------------------------------------------------------
    before = len(up.accepts())
    long = t.client_bg("long", "--dst", "203.0.113.10:7", "--send", "tick\n", "--repeat", "10",
                       "--interval", "0.2", "--shutdown", "--timeout", "10")
    deadline = time.monotonic() + 5
    while len(up.accepts()) <= before and time.monotonic() < deadline:
        time.sleep(0.02)
    gw.proc.signal(15)
    rz = observe.wait_readyz(sb, 503, timeout=3)
    t.check(rz["status"] == 503 and "draining" in rz["body"], "SIGTERM with a live connection: /readyz 503 draining",
            str(rz))
    t.check_eq(gw.proc.wait(timeout=15), 0, "egressd exits 0 once drained")
    res = t.client_result(long)
    t.check_eq(res["recv"], "tick\n" * 10, "the live connection finished during the drain")
    observe.check_schema(t, gw.records(), "admin")


# N connections at once, each sends a request and reads to the end (Connection: close).
_MANY = r"""
import socket, sys, threading
host, port = sys.argv[1].rsplit(":", 1)
n = int(sys.argv[2])
socks = []
for _ in range(n):
    try:
        socks.append(socket.create_connection((host, int(port)), timeout=10))
    except OSError:
        pass
results = []
def talk(s):
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            c = s.recv(4096)
            if not c:
                break
            data += c
        results.append(data[:12])
    except socket.timeout:
        results.append(b"timeout")
    except OSError:
        results.append(b"closed")
ts = [threading.Thread(target=talk, args=(s,)) for s in socks]
[t.start() for t in ts]
[t.join() for t in ts]
print(len(socks), "opened;", sum(1 for r in results if r.startswith(b"HTTP/1.1 200")), "answered 200;",
      results.count(b"closed") + results.count(b""), "closed by the server;", results.count(b"timeout"), "timed out")
sys.exit(1 if b"timeout" in results else 0)
"""


if __name__ == "__main__":
    harness.main(run, watchdog_s=120)
