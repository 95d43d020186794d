#!/usr/bin/env python3
"""Validates every line of an audit file against docs/audit.schema.json (JSON Schema 2020-12).

usage: validate_schema.py [--lines-only] SCHEMA AUDIT.jsonl...
Fails unless every line validates, every event type occurs, and the schema rejects records that
are wrong (so the schema is not vacuous). With --lines-only (for logs a real gateway wrote, e.g.
in the end-to-end suite), only checks that every line of every file validates."""
import copy
import json
import sys

import jsonschema

NAME_FIELDS = ("host", "name_source", "name_verified", "dns_answers", "ech")
EVENTS = {"connection.decision", "connection.close", "policy.reload", "gateway.start", "gateway.stop"}


def main() -> int:
    args = sys.argv[1:]
    lines_only = bool(args) and args[0] == "--lines-only"
    if lines_only:
        args = args[1:]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    schema_path, audit_paths = args[0], args[1:]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    seen = set()
    records = []
    failures = 0
    for audit_path in audit_paths:
        with open(audit_path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    failures += 1
                    print(f"{audit_path}:{n}: not JSON: {e}", file=sys.stderr)
                    continue
                records.append(record)
                seen.add(record.get("event"))
                for err in validator.iter_errors(record):
                    failures += 1
                    print(f"{audit_path}:{n}: {err.json_path}: {err.message}", file=sys.stderr)
    if failures:
        return 1
    if lines_only:
        print(f"{len(records)} records valid")
        return 0
    if seen != EVENTS:
        print(f"missing event types: {sorted(EVENTS - seen)}", file=sys.stderr)
        return 1
    if not any("records_dropped" in r for r in records):
        print("no record carries records_dropped", file=sys.stderr)
        return 1
    if not any("shadow" in r and "identity" in r for r in records):
        print("no decision with identity and shadow", file=sys.stderr)
        return 1

    named = next((r for r in records if r["event"] == "connection.decision"
                  and all(k in r for k in NAME_FIELDS)), None)
    if named is None:
        print(f"no decision with every name field ({', '.join(NAME_FIELDS)})", file=sys.stderr)
        return 1
    if not any(r.get("name_source") == "none" for r in records):
        print("no decision with name_source none", file=sys.stderr)
        return 1

    # The schema must reject what is wrong.
    decision = next(r for r in records if r["event"] == "connection.decision" and "identity" in r)
    bad = []
    for mutate in (
        lambda r: r.pop("decision"),
        lambda r: r.update(decision="maybe"),
        lambda r: r.update(surprise=1),
        lambda r: r.update(v=2),
        lambda r: r.update(prev="xyz"),
        lambda r: r.update(ts="2026-11-26 07:00:00"),
        lambda r: r["identity"].pop("fingerprint_sha256"),
        lambda r: r["src"].update(port=70000),
        lambda r: r.update(event="connection.close"),
        lambda r: r.update(policy_version="sha256:" + r["policy_version"]),
    ):
        r = copy.deepcopy(decision)
        mutate(r)
        if validator.is_valid(r):
            bad.append(r)
    # The name fields: their values, and that they come together (docs/audit.md).
    for mutate in (
        lambda r: r.update(name_source="dns"),
        lambda r: r.update(name_verified="yes"),
        lambda r: r.update(ech=False),
        lambda r: r.update(host=""),
        lambda r: r.update(dns_answers=[]),
        lambda r: r.update(dns_answers=["api.stripe.com"]),
        lambda r: r.update(dns_answers="203.0.113.10"),
        lambda r: r.pop("name_source"),
        lambda r: r.pop("name_verified"),
        lambda r: r.update(name_source="none"),
        lambda r: (r.pop("host"), r.pop("dns_answers"), r.update(name_source="none")),
    ):
        r = copy.deepcopy(named)
        mutate(r)
        if validator.is_valid(r):
            bad.append(r)
    nameless = copy.deepcopy(named)
    for k in ("host", "dns_answers", "ech"):
        nameless.pop(k)
    nameless.update(name_source="none", name_verified="not_checked")
    if not validator.is_valid(nameless):
        print(f"schema rejected a name step without a name: {json.dumps(nameless)}", file=sys.stderr)
        return 1
    reload = next((r for r in records if r["event"] == "policy.reload" and "parts" in r), None)
    if reload is None:
        print("no policy.reload record with parts", file=sys.stderr)
        return 1
    for mutate in (
        lambda r: r["parts"]["crl"].update(result="maybe"),
        lambda r: r["parts"]["tls"].pop("errors"),
        lambda r: r["parts"].pop("policy"),
        lambda r: r["parts"].update(dns={"result": "ok", "errors": []}),
        lambda r: r["parts"]["tls"].update(next_update="2027-01-01T00:00:00Z"),
        lambda r: r["parts"]["policy"].pop("version"),
        lambda r: r.update(version="sha256:5d41"),
        lambda r: r.update(attempted_version=r["version"]),
    ):
        r = copy.deepcopy(reload)
        mutate(r)
        if validator.is_valid(r):
            bad.append(r)
    if bad:
        for r in bad:
            print(f"schema accepted a wrong record: {json.dumps(r)}", file=sys.stderr)
        return 1
    print(f"{len(records)} records valid; every event type present; 29 wrong records rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
