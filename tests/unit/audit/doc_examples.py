#!/usr/bin/env python3
"""docs/audit.md's example records: JSON, and every policy version in them (`policy_version`, a
reload's `version`) has the form docs/audit.schema.json gives it (the page once showed
`sha256:...`, which egressd never writes). Hashes elided with `…` in the examples are not
checked. usage: doc_examples.py AUDIT.md SCHEMA"""
import json
import re
import sys


def main() -> int:
    doc, schema_path = sys.argv[1:3]
    with open(schema_path, encoding="utf-8") as f:
        pattern = re.compile(json.load(f)["$defs"]["policy_version"]["pattern"])
    versions, failures = 0, 0
    with open(doc, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.startswith('{"v":1'):
                continue
            record = json.loads(line)
            found = [record.get("policy_version"),
                     record.get("version") if record["event"] == "policy.reload" else None,
                     record.get("parts", {}).get("policy", {}).get("version")]
            for v in filter(None, found):
                versions += 1
                if not pattern.fullmatch(v):
                    failures += 1
                    print(f"{doc}:{n}: policy version {v!r} does not match {pattern.pattern}",
                          file=sys.stderr)
    if versions < 3:
        print(f"{doc}: only {versions} policy versions in the examples", file=sys.stderr)
        return 1
    if failures:
        return 1
    print(f"{versions} example policy versions have the schema's form")
    return 0


if __name__ == "__main__":
    sys.exit(main())
