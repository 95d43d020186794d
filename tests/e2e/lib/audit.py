"""Reading egressd's audit log (JSON Lines) in end-to-end tests and the demo.

Records are matched on fields with `matching(records, event=..., decision=..., dst="203.0.113.10:7")`.
Endpoints are compared in one canonical text form ("192.0.2.2:4000", "[2001:db8:1::2]:4000"),
whether the log writes them as that string or as an object {"ip"/"address", "port"}.
"""

from __future__ import annotations

import json
from pathlib import Path


def load(path: str | Path) -> list[dict]:
    """Every complete line of the file, parsed. A torn last line (no newline yet) is ignored."""
    p = Path(path)
    if not p.exists():
        return []
    text = p.read_text(errors="replace")
    records = []
    lines = text.split("\n")
    for i, line in enumerate(lines[:-1]):  # the piece after the last "\n" is incomplete
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise AssertionError(f"{p}:{i + 1}: audit line is not JSON ({e}): {line[:300]}") from e
    return records


def endpoint(value) -> str | None:
    """Canonical "ip:port" / "[ip6]:port" / "ip" text of an endpoint field, or None."""
    if value is None:
        return None
    if isinstance(value, dict):
        ip = value.get("ip", value.get("address", value.get("addr")))
        port = value.get("port")
        if ip is None:
            return json.dumps(value, sort_keys=True)
        ip = str(ip)
        if ip.startswith("::ffff:") and "." in ip:
            ip = ip[len("::ffff:"):]
        if port is None:
            return ip
        return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    s = str(value)
    if s.startswith("[::ffff:") and "." in s:
        host, _, port = s[1:].partition("]:")
        return f"{host[len('::ffff:'):]}:{port}"
    return s


def host(value) -> str | None:
    """Just the address of an endpoint field (no port, no brackets)."""
    e = endpoint(value)
    if e is None:
        return None
    if e.startswith("["):
        return e[1:].split("]")[0]
    if e.count(":") == 1:
        return e.split(":")[0]
    return e


_ENDPOINT_KEYS = {"src", "dst"}


def _get(rec: dict, key: str):
    cur = rec
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


_MISSING = object()


def matches(rec: dict, **want) -> bool:
    """True when every `key=value` holds. Keys may be dotted ("identity.spiffe_id"); `src_host`
    compares only the address of src; a callable value is a predicate."""
    for key, expected in want.items():
        if key in ("src_host", "dst_host"):
            got = host(rec.get(key[:3]))
        else:
            got = _get(rec, key)
            if got is _MISSING:
                return False
            if key in _ENDPOINT_KEYS:
                got = endpoint(got)
        if callable(expected):
            if not expected(got):
                return False
        elif got != expected:
            return False
    return True


def matching(records: list[dict], **want) -> list[dict]:
    return [r for r in records if matches(r, **want)]


def connection_records(records: list[dict], conn_id) -> list[dict]:
    return [r for r in records if r.get("conn_id") == conn_id]


def bytes_up(rec: dict) -> int | None:
    """Client → upstream bytes of a connection.close record."""
    for key in ("bytes_up", "bytes_client_to_upstream", "bytes_sent"):
        if key in rec:
            return rec[key]
    b = rec.get("bytes")
    if isinstance(b, dict):
        return b.get("up", b.get("client_to_upstream"))
    return None


def bytes_down(rec: dict) -> int | None:
    """Upstream → client bytes of a connection.close record."""
    for key in ("bytes_down", "bytes_upstream_to_client", "bytes_received"):
        if key in rec:
            return rec[key]
    b = rec.get("bytes")
    if isinstance(b, dict):
        return b.get("down", b.get("upstream_to_client"))
    return None


def pretty(rec: dict) -> str:
    """One readable line for the demo and for failure messages."""
    keys = ["ts", "event", "conn_id", "src", "dst", "decision", "reason", "rule", "detail",
            "closed_by", "bytes_up", "bytes_down", "duration_us", "policy_version"]
    parts = []
    for k in keys:
        if k in rec and rec[k] not in ("", None):
            v = rec[k]
            if k in _ENDPOINT_KEYS:
                v = endpoint(v)
            if k == "policy_version" and isinstance(v, str) and len(v) > 12:
                v = v[:12] + "…"
            parts.append(f"{k}={v}")
    for k, v in rec.items():
        if k not in keys and k not in ("v", "seq", "prev") and v not in ("", None, [], {}):
            parts.append(f"{k}={json.dumps(v) if not isinstance(v, str) else v}")
    return " ".join(parts)
