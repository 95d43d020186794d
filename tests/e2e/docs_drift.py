#!/usr/bin/env python3
"""The docs name only what egressd really serves and writes, and egressd serves nothing undocumented
(issue 22: "the docs cannot drift again").

Nothing here is a hard-coded list of metrics or audit fields: both sides are read at run time.

* Metrics. Every `egressd_*` / `process_*` token in docs/*.md and README.md (except the few
  listed in NOT_METRICS, which name other things) must be served by /metrics as a `# TYPE`
  family or a sample; a documented histogram `x` is served as `x_bucket`/`x_sum`/`x_count`, and
  a documented `x_bucket`/`_sum`/`_count` means the family `x`. The other way round, every family
  /metrics serves must be named somewhere in those docs. egressd runs with a plain listener and an
  mTLS listener (CRL, per_source set), so the families that exist only with TLS, a CRL or
  per_source are there, after allowed, denied and TLS connections.
* Audit fields. Every field of docs/audit.md's "Fields" tables (per event, with dotted
  sub-fields, `*` for any key, `{a, b}` types for an object's keys) must (a) be a property of that
  event in docs/audit.schema.json, and every schema property must be documented; and (b) appear in
  at least one record egressd wrote in this run for that event, unless it is in NOT_CAUSED (with
  the reason this test cannot cause it, and the doc must call it optional/conditional). Caused:
  allowed and denied plain connections, a report-mode rule's shadow difference, a refused upstream
  (close detail), mTLS with and without a client certificate, a hostname rule's name verified
  against a real DNS server (lib/dns.py) from a ClientHello offering GREASE ECH (host,
  name_source, name_verified, dns_answers, ech), a failed and a good SIGHUP reload (TLS and CRL
  parts), start and SIGTERM. Every record also validates against the schema.

Failure messages name the doc file, line and table row, and the name that drifted. The docs are
read from `--source-dir` (default: this checkout), so a scratch copy with a renamed metric or an
extra field shows the test failing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import client_hello  # noqa: E402
import dns  # noqa: E402
import harness  # noqa: E402
import names  # noqa: E402
import observe  # noqa: E402
import policies  # noqa: E402
import tls_pki  # noqa: E402
from sandbox import IF_GW_CLIENT, REDIRECT_PORT  # noqa: E402

# Tokens that look like metric names but name something else. Each entry must still occur in its
# file (a stale entry fails), so the list cannot hide a metric that was later documented there.
NOT_METRICS = {
    ("docs/audit.md", "egressd_audit"): "Fluent Bit tag/parser and Vector source name ('Shipping the log')",
    ("docs/audit.md", "egressd_audit_parsed"): "Vector transform name ('Shipping the log')",
}

# Documented audit fields this run cannot cause, by (event, field), with the reason. Each must be
# documented as optional/conditional (its row says so), or the entry itself is a failure.
NOT_CAUSED = {
    ("*", "records_dropped"): "needs a writer overflow (on_overflow: drop with a stalled sink); "
                              "e2e.audit_overflow causes and checks it",
    ("connection.close", "rule"): "needs a live connection that a reload's new policy denies or "
                                  "whose rule expires; e2e.live_redecide and e2e.live_revoke cause "
                                  "and check it",
    ("policy.reload", "parts.policy.redecide_unanswered"): "needs a worker that does not answer "
                                                           "within 2 s (a stalled event loop)",
    ("policy.reload", "parts.crl.check_unanswered"): "needs a worker that does not answer within "
                                                     "2 s (a stalled event loop)",
    ("connection.close", "via_conn"): "needs an egressd agent (upstream.via) and its gateway; "
                                      "e2e.agent_tunnel causes and checks it",
    **{("connection.decision", f): "needs a trusted load balancer's PROXY header; "
                                   "e2e.proxy_protocol causes and checks it"
       for f in ("proxy_src", "proxy_src.ip", "proxy_src.port")},
    ("connection.decision", "agent_conn"): "needs a destination: connect listener and a CONNECT "
                                           "request with Egressd-Agent-Conn (an egressd agent's "
                                           "tunnel, issue 20)",
}
# Words with which a docs/audit.md row (or the text under its table) marks a field optional.
OPTIONAL_WORDS = re.compile(r"\b(absent|optional|omitted|present only)\b", re.I)

PLAIN_PORT = REDIRECT_PORT      # every redirected connection but the TLS one
TLS_PORT = 15003                # 8443 is redirected here (an extra nat rule in the gateway namespace)
TLS_DST = "203.0.113.20:8443"

POLICY = policies.docs(
    policies.SETTINGS, policies.ROLE, policies.lab_destination(), policies.BLOCKLIST,
    policies.DENY_BLOCKLIST, policies.ALLOW_LAB,
    """\
kind: Role
name: payments
members:
  - identity: "spiffe://corp.example/ns/payments/sa/*"
""", """\
kind: Destination
name: card-networks
cidrs: [203.0.113.20/32]
ports: [8443]
""", """\
kind: Destination
name: echo-20
cidrs: [203.0.113.20/32]
ports: [7]
""", """\
kind: Rule
id: payments-to-card-networks
action: allow
from: [{role: payments}]
to: [{destination: card-networks}]
""", """\
kind: Rule
id: api-by-name
action: allow
from: [{role: sandbox-clients}]
to: [{hosts: [api.lab.example], ports: [443]}]
""", """\
kind: Rule
id: try-deny-echo-20
action: deny
mode: report
from: [{role: sandbox-clients}]
to: [{destination: echo-20}]
""")

BROKEN = """\
kind: Rule
id: broken-rule
action: allow
from: [{role: sandbox-clients}]
to: [{cidrs: [203.0.113.20/32]}]
colour: blue
"""

# ------------------------------------------------------------------------------------ metrics

METRIC_TOKEN = re.compile(r"(?<![A-Za-z0-9_])((?:egressd|process)_[a-z0-9_]*[a-z0-9])(?![A-Za-z0-9_*<])")
SUFFIXES = ("_bucket", "_sum", "_count")


def doc_files(source: Path) -> list[Path]:
    return sorted((source / "docs").glob("*.md")) + [source / "README.md"]


def documented_metrics(source: Path) -> tuple[dict[str, list[str]], list[str]]:
    """name → ["docs/x.md:LINE", ...] for every metric-like token; and the stale NOT_METRICS."""
    found: dict[str, list[str]] = {}
    seen_excluded = set()
    for path in doc_files(source):
        rel = path.relative_to(source).as_posix()
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for m in METRIC_TOKEN.finditer(line):
                name = m.group(1)
                if (rel, name) in NOT_METRICS:
                    seen_excluded.add((rel, name))
                    continue
                found.setdefault(name, []).append(f"{rel}:{n}")
    stale = [f"{f}: `{n}` ({why})" for (f, n), why in NOT_METRICS.items() if (f, n) not in seen_excluded]
    return found, stale


def served(name: str, families: dict[str, str], samples: set[str]) -> bool:
    if name in families or name in samples:
        return True
    for s in SUFFIXES:
        if name.endswith(s) and families.get(name[: -len(s)]) in ("histogram", "summary"):
            return True
    return False


def family_documented(fam: str, kind: str, documented: dict[str, list[str]]) -> bool:
    if fam in documented:
        return True
    return kind in ("histogram", "summary") and any(fam + s in documented for s in SUFFIXES)


# ------------------------------------------------------------------------------- audit fields


@dataclass
class DocField:
    path: str        # "identity.spiffe_id", "parts.*.errors"
    where: str       # "docs/audit.md:123 (### `connection.decision`)"
    row: str         # the table row, for messages
    optional: bool   # its meaning says it may be absent ("absent", "optional", "present only")


@dataclass
class AuditDoc:
    events: list[str] = field(default_factory=list)              # every event named in the doc
    fields: dict[str, dict[str, DocField]] = field(default_factory=dict)  # event ("*" = every) → path


EVENT_RE = re.compile(r"`([a-z]+\.[a-z]+)`")
NAME_RE = re.compile(r"`([a-z_][a-z0-9_]*(?:\.(?:[a-z_][a-z0-9_]*|\*))*)`")
SUBKEYS_RE = re.compile(r"^`?\{([a-z_][a-z0-9_]*(?:, *[a-z_][a-z0-9_]*)*)\}`?$")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_audit_doc(source: Path) -> tuple[AuditDoc, list[str]]:
    """The fields of docs/audit.md's "## Fields" tables; and what could not be read (problems)."""
    path = source / "docs" / "audit.md"
    rel = path.relative_to(source).as_posix()
    lines = path.read_text().splitlines()
    doc = AuditDoc()
    problems: list[str] = []
    in_fields = False
    heading, heading_events = "", []
    table_header: list[str] | None = None
    for n, line in enumerate(lines, 1):
        if line.startswith("## "):
            in_fields = line.strip() == "## Fields"
            table_header = None
            continue
        if not in_fields:
            continue
        if line.startswith("### "):
            heading = line.strip()
            heading_events = ["*"] if "every record" in heading.lower() else EVENT_RE.findall(heading)
            if not heading_events:
                problems.append(f"{rel}:{n}: heading {heading!r} names no event (`a.b`) and is not "
                                "\"Every record\"")
            doc.events += [e for e in heading_events if e != "*" and e not in doc.events]
            table_header = None
            continue
        if not line.startswith("|"):
            table_header = None
            continue
        cells = _cells(line)
        if table_header is None:
            table_header = [c.lower() for c in cells]
            continue
        if set(line.replace("|", "").strip()) <= set("-: "):
            continue
        if table_header[:1] != ["field"]:
            continue
        names = NAME_RE.findall(cells[0])
        if not names:
            problems.append(f"{rel}:{n}: row names no `field`: {line.strip()!r}")
            continue
        meaning = cells[-1]
        events = heading_events
        if len(heading_events) > 1:
            # A table shared by several events marks each row "(start)" / "(stop)".
            marker = re.search(r"\(([a-z]+)\)\s*$", meaning)
            if marker:
                events = [e for e in heading_events if e.endswith("." + marker.group(1))]
            if not marker or not events:
                problems.append(f"{rel}:{n}: {heading}: row {cells[0]} does not say which event it "
                                f"belongs to (end its meaning with one of "
                                f"{', '.join('(' + e.split('.')[1] + ')' for e in heading_events)})")
                events = heading_events
        where = f"{rel}:{n} ({heading})"
        optional = bool(OPTIONAL_WORDS.search(meaning))
        subkeys = SUBKEYS_RE.match(cells[1]) if len(cells) > 2 else None
        for ev in events:
            table = doc.fields.setdefault(ev, {})
            for name in names:
                paths = [name]
                if subkeys:
                    paths += [f"{name}.{k.strip()}" for k in subkeys.group(1).split(",")]
                for p in paths:
                    if p in table:
                        problems.append(f"{where}: `{p}` documented twice (also {table[p].where})")
                    table[p] = DocField(p, where, line.strip(), optional)
    return doc, problems


def inherit_subkeys(doc: AuditDoc) -> None:
    """A row "`src` | | as in the decision" has the sub-fields documented for `src` elsewhere."""
    sub: dict[str, dict[str, DocField]] = {}
    for table in doc.fields.values():
        for p, f in table.items():
            if "." in p:
                sub.setdefault(p.split(".")[0], {}).setdefault(p, f)
    for table in doc.fields.values():
        for top in [p for p in table if "." not in p]:
            if not any(q.startswith(top + ".") for q in table):
                for p, f in sub.get(top, {}).items():
                    table[p] = DocField(p, table[top].where, table[top].row, table[top].optional)


# The schema: properties of each event (common ones included), as dotted paths.


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node and len(node) <= 2:  # {"$ref": ..., "description": ...}
        node = _deref(schema, node["$ref"])
    return node


def _deref(schema: dict, ref: str) -> dict:
    cur = schema
    for part in ref.lstrip("#/").split("/"):
        cur = cur[part]
    return cur


def _properties(schema: dict, node: dict) -> dict[str, dict]:
    node = _resolve(schema, node)
    props: dict[str, dict] = {}
    if "$ref" in node:
        props.update(_properties(schema, _deref(schema, node["$ref"])))
    for sub in node.get("allOf", []):
        props.update(_properties(schema, sub))
    props.update(node.get("properties", {}))
    return props


def schema_paths(schema: dict, node: dict, prefix: str = "") -> set[str]:
    out = set()
    for name, sub in _properties(schema, node).items():
        p = f"{prefix}{name}"
        out.add(p)
        out |= schema_paths(schema, sub, p + ".")
    return out


def schema_events(schema: dict) -> dict[str, set[str]]:
    """event → its property paths (the common ones included)."""
    common = schema_paths(schema, {"properties": schema.get("properties", {})})
    out = {}
    for branch in schema.get("oneOf", []):
        node = _resolve(schema, branch)
        ev = node.get("properties", {}).get("event", {}).get("const")
        if ev:
            out[ev] = common | schema_paths(schema, node)
    return out


def path_matches(pattern: str, path: str) -> bool:
    a, b = pattern.split("."), path.split(".")
    return len(a) == len(b) and all(x == "*" or x == y for x, y in zip(a, b))


def path_covered(documented: dict, path: str) -> bool:
    """A schema property is documented by its own row or as the parent of a documented one
    (`parts.*.result` documents `parts.tls`)."""
    n = path.count(".") + 1
    return any(path_matches(".".join(p.split(".")[:n]), path) for p in documented if p.count(".") + 1 >= n)


def record_has(rec, parts: list[str]) -> bool:
    if not parts:
        return True
    if not isinstance(rec, dict):
        return False
    head, rest = parts[0], parts[1:]
    keys = list(rec) if head == "*" else ([head] if head in rec else [])
    return any(record_has(rec[k], rest) for k in keys)


# --------------------------------------------------------------------------------------- the run


def check_docs_parsed(t: harness.Case, metrics: dict, doc: AuditDoc, problems: list[str]) -> None:
    t.check(len(metrics) >= 10, f"the docs name {len(metrics)} metrics (a reader that finds none "
            "would pass vacuously)", str(sorted(metrics)))
    t.check(not problems, "docs/audit.md's Fields tables read cleanly", "\n      ".join(problems))
    for ev in ["*"] + doc.events:
        t.check(len(doc.fields.get(ev, {})) >= (3 if ev == "*" else 1),
                f"docs/audit.md documents {len(doc.fields.get(ev, {}))} field(s) for "
                f"{'every record' if ev == '*' else ev}")


def check_schema_vs_doc(t: harness.Case, source: Path, doc: AuditDoc) -> None:
    schema = json.loads((source / "docs" / "audit.schema.json").read_text())
    per_event = schema_events(schema)
    t.check_eq(sorted(per_event), sorted(doc.events),
               "docs/audit.md documents a table for exactly the events docs/audit.schema.json has")
    common = doc.fields.get("*", {})
    for ev in doc.events:
        documented = {**common, **doc.fields.get(ev, {})}
        props = per_event.get(ev, set())
        missing = [f"{f.where}: `{p}` ({ev}) is not a property of {ev} in docs/audit.schema.json"
                   for p, f in documented.items() if not any(path_matches(p, q) for q in props)]
        t.check(not missing, f"{ev}: every field docs/audit.md documents is in the schema",
                "\n      ".join(missing))
        undocumented = sorted(q for q in props if not path_covered(documented, q))
        t.check(not undocumented, f"{ev}: every property docs/audit.schema.json has is documented",
                "\n      ".join(f"docs/audit.schema.json: {ev} property `{q}` is in no row of "
                               f"docs/audit.md's table for {ev} (or \"Every record\")"
                               for q in undocumented))


def check_records_vs_doc(t: harness.Case, doc: AuditDoc, records: list[dict]) -> None:
    by_event: dict[str, list[dict]] = {}
    for r in records:
        by_event.setdefault(r.get("event", "?"), []).append(r)
    common = doc.fields.get("*", {})
    for (ev, p), why in NOT_CAUSED.items():
        f = doc.fields.get(ev, {}).get(p)
        t.check(f is not None and f.optional,
                f"NOT_CAUSED ({ev}, {p}) is a documented optional field",
                f"{'not documented' if f is None else f.where + ': its row does not say optional/absent'}"
                f" ({why})")
    for ev in doc.events:
        recs = by_event.get(ev, [])
        if not t.check(bool(recs), f"{ev}: the run wrote at least one record", str(sorted(by_event))):
            continue
        documented = {**common, **doc.fields.get(ev, {})}
        never = []
        for p, f in documented.items():
            if (ev, p) in NOT_CAUSED or (("*", p) in NOT_CAUSED and p in common):
                continue
            if not any(record_has(r, p.split(".")) for r in recs):
                hint = (" (documented as optional: cause it, or add it to NOT_CAUSED with the reason)"
                        if f.optional else "")
                never.append(f"{f.where}: `{p}` is in none of the {len(recs)} {ev} record(s) "
                             f"written{hint}\n        row: {f.row}")
        t.check(not never, f"{ev}: each of its {len(documented)} documented fields is in a record "
                f"({len(recs)} written)", "\n      ".join(never))
        # The other way round is the schema's: unevaluatedProperties: false, and every record of
        # the run is validated against it (run()), whose properties are all documented (above).


def check_metrics(t: harness.Case, documented: dict[str, list[str]], stale: list[str], text: str) -> None:
    samples, types, errors = observe.parse_prometheus(text)
    t.check(not errors, "/metrics parses strictly", "\n      ".join(errors[:10]))
    t.check(not stale, "every NOT_METRICS entry still occurs in its file", "\n      ".join(stale))
    names = {s[0] for s in samples}
    missing = [f"{', '.join(where[:3])}: `{name}` is not served by /metrics (no `# TYPE {name}`, "
               f"no sample; a histogram x is x_bucket/x_sum/x_count)"
               for name, where in sorted(documented.items()) if not served(name, types, names)]
    t.check(not missing, f"each of the {len(documented)} metrics docs/ name is served by /metrics",
            "\n      ".join(missing))
    families = dict(types)
    for n in names:  # a sample without a TYPE line is a family too
        if not any(n == f or (n.endswith(s) and n[: -len(s)] == f) for f in types for s in ("",) + SUFFIXES):
            families.setdefault(n, "untyped")
    undocumented = [f"/metrics serves `{f}` ({k}), named nowhere in docs/*.md or README.md"
                    for f, k in sorted(families.items()) if not family_documented(f, k, documented)]
    t.check(not undocumented, f"each of the {len(families)} families /metrics serves is documented",
            "\n      ".join(undocumented))


def run(t: harness.Case) -> None:
    source = Path(t.args.source_dir)
    for tool in ("openssl", "socat"):
        t.require(shutil.which(tool) is not None, f"{tool} installed (make deps)")

    # --- the docs, read before anything runs ------------------------------------------------------
    documented, stale = documented_metrics(source)
    doc, problems = parse_audit_doc(source)
    inherit_subkeys(doc)
    check_docs_parsed(t, documented, doc, problems)
    check_schema_vs_doc(t, source, doc)

    # --- a gateway with every kind of listener: plain and mTLS (CRL), per_source set --------------
    pki = tls_pki.make_pki(t.sb, source)
    for tool in ("iptables", "ip6tables"):
        t.sb.exec(t.sb.gateway, [tool, "-w", "-t", "nat", "-I", "PREROUTING", "1", "-i", IF_GW_CLIENT,
                                 "-p", "tcp", "--dport", "8443", "-j", "REDIRECT", "--to-ports",
                                 str(TLS_PORT)])
    dns.DnsServer.start(t.sb, names.RECORDS)
    echo = t.upstream("echo", ["203.0.113.10:7", "203.0.113.20:7", "203.0.113.99:7", TLS_DST,
                               f"{names.REAL_V4}:443"])
    mtls = tls_pki.tls_listener(pki, name="mtls", address=f"[::]:{TLS_PORT}", handshake_timeout="2s")
    gw = t.egressd({"10-lab.yaml": POLICY}, {
        "listeners": [{"name": "plain", "address": f"[::]:{PLAIN_PORT}", "destination": "original_dst"},
                      mtls],
        "limits": {"max_connections": 1000, "per_source": 100},
        "dns": {"servers": [f"{dns.DNS_V4}:{dns.DNS_PORT}"], "min_ttl": "60s", "timeout": "2s"}})

    # --- traffic --------------------------------------------------------------------------------
    r = t.client("--dst", "203.0.113.10:7", "--send", "allowed\n", "--shutdown", "--timeout", "5")
    t.check_eq(r["recv"], "allowed\n", "plain: an allowed connection is echoed")
    r = t.client("--dst", "203.0.113.20:7", "--send", "shadow\n", "--shutdown", "--timeout", "5")
    t.check_eq(r["recv"], "shadow\n", "plain: the report-mode deny rule does not deny")
    dec = t.decision_for(gw, r)
    t.check(bool(dec) and dec.get("shadow", {}).get("rule") == "try-deny-echo-20",
            "plain: the report-mode rule's shadow difference is recorded", str(dec))
    t.check_denied(gw, [echo], "203.0.113.99:7", "default")
    t.check_denied(gw, [echo], "203.0.113.66:7", "rule", rule="deny-blocklist")
    # Allowed, but nobody listens on :81: a close record with the refusal's detail.
    r = t.client("--dst", f"203.0.113.10:{policies.PORT_CLOSED}", "--send", "x\n", "--timeout", "5")
    t.check_record(gw, "plain: upstream refused, a close record", event="connection.close",
                   reason="upstream_refused")
    p = tls_pki.socat(t.sb, pki, TLS_DST, "payments", "hello over mTLS\n")
    t.check_eq((p.returncode, p.stdout), (0, "hello over mTLS\n"), "mTLS with a client certificate: echo",
               p.stderr[-600:])
    t.check_record(gw, "mTLS: an allow decision with the identity", event="connection.decision",
                   listener="mtls", decision="allow", **{"identity.cn": lambda v: bool(v)})
    tls_pki.s_client(t.sb, pki, TLS_DST, None, "must-not-leave\n", ["-ign_eof"])
    t.check_record(gw, "mTLS without a certificate: denied no_client_cert", event="connection.decision",
                   listener="mtls", reason="no_client_cert")

    # The name step: a verified SNI from a ClientHello offering (GREASE) ECH writes every name field.
    hello = client_hello.with_grease_ech(client_hello.client_hello(names.API))
    names.relay(t, gw, echo, f"{names.REAL_V4}:443", [names.write(hello)], hello,
                "plain: a hostname rule's verified SNI")
    t.check_record(gw, "plain: a decision with every name field", event="connection.decision",
                   decision="allow", rule="api-by-name", host=names.API, name_source="sni",
                   name_verified="match", ech=True, dns_answers=lambda v: bool(v))

    # --- reloads: a broken policy (failed), then a good one --------------------------------------
    gw.write_policy({"10-lab.yaml": POLICY, "20-broken.yaml": BROKEN})
    gw.reload()
    t.check_record(gw, "SIGHUP with a broken policy: policy.reload failed", event="policy.reload",
                   result="failed")
    gw.write_policy({"10-lab.yaml": POLICY})
    gw.reload()
    t.check_record(gw, "SIGHUP with the good policy again: policy.reload ok", event="policy.reload",
                   result="ok")

    # --- /metrics against the docs -------------------------------------------------------------------
    resp = observe.admin_get(t.sb, "/metrics")
    t.require(resp["status"] == 200, "/metrics answers 200", str(resp)[:300])
    check_metrics(t, documented, stale, resp["body"])

    # --- the audit log against the docs ------------------------------------------------------------
    t.check_eq(gw.terminate(), 0, "SIGTERM: egressd exits 0")
    records = gw.records()
    observe.check_schema(t, records, "the run")
    check_records_vs_doc(t, doc, records)


if __name__ == "__main__":
    harness.main(run, extra_v4=names.SANDBOX_V4)
