"""What an operator sees of egressd, for the audit and admin end-to-end cases.

* `admin_get(sb, path)` / `admin_raw(sb, data)`: HTTP to the admin endpoint, from inside the
  gateway namespace (where it listens on loopback); `curl(sb, url)` is the plain curl scrape.
* `parse_prometheus(text)`: a strict reader of the Prometheus text exposition format 0.0.4 that
  returns the samples and every way the text breaks the format (so a test can assert none).
* `SchemaChecker`: every audit record against docs/audit.schema.json (JSON Schema 2020-12,
  Debian's python3-jsonschema).
* `spawn_egressd(...)`: egressd started like gateway.start_egressd, but with an argv prefix (to
  run it inside another mount namespace or with stdout redirected) and an audit path of choice.
* `AuditFifo`: a FIFO for `audit.path: "-"` whose reader (a thread here) can pause or read slowly:
  a sink as slow as the test wants.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import math
import os
import re
import select
import threading
import time
from pathlib import Path

import yaml

import gateway
from sandbox import PYTHON, Sandbox, SandboxError

ADMIN = gateway.DEFAULT_CONFIG["admin"]["address"]

# ------------------------------------------------------------------------------------------ HTTP

_HTTP = r"""
import json, socket, sys
host, port, method, path, headers, timeout = json.loads(sys.argv[1])
s = socket.create_connection((host, port), timeout=timeout)
req = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
for k, v in headers.items():
    req += f"{k}: {v}\r\n"
s.sendall((req + "\r\n").encode())
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
head, _, body = data.partition(b"\r\n\r\n")
lines = head.decode("latin-1").split("\r\n")
status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
hdrs = {}
for line in lines[1:]:
    k, _, v = line.partition(":")
    hdrs[k.strip().lower()] = v.strip()
print(json.dumps({"status": status, "status_line": lines[0] if lines else "", "headers": hdrs,
                  "body": body.decode("utf-8", "replace")}))
"""

_RAW = r"""
import json, socket, sys, time
host, port, chunk, timeout = json.loads(sys.argv[1])
data = bytes.fromhex(sys.stdin.read().strip())
s = socket.create_connection((host, port), timeout=timeout)
t0 = time.monotonic()
send_error = None
try:
    for i in range(0, len(data), chunk):
        s.sendall(data[i:i + chunk])
except OSError as e:
    send_error = type(e).__name__
got = b""
end = "eof"
try:
    while True:
        c = s.recv(65536)
        if not c:
            break
        got += c
except socket.timeout:
    end = "timeout"
except ConnectionResetError:
    end = "reset"
print(json.dumps({"response": got.decode("latin-1"), "end": end, "send_error": send_error,
                  "elapsed_s": round(time.monotonic() - t0, 3)}))
"""


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def admin_get(sb: Sandbox, path: str, method: str = "GET", address: str = ADMIN,
              headers: dict | None = None, timeout: float = 5) -> dict:
    """One HTTP/1.1 request to the admin endpoint; {"status", "status_line", "headers", "body"}
    (status 0 when nothing parseable came back)."""
    host, port = _split(address)
    arg = json.dumps([host, port, method, path, headers or {}, timeout])
    p = sb.exec(sb.gateway, [PYTHON, "-c", _HTTP, arg], check=False, timeout=timeout + 10)
    if p.returncode != 0:
        raise SandboxError(f"admin {method} {path}: {p.stderr.strip()[-800:]}")
    return json.loads(p.stdout)


def admin_raw(sb: Sandbox, data: bytes, address: str = ADMIN, chunk: int = 65536,
              timeout: float = 10) -> dict:
    """Sends `data` as it is and reads until the server closes (or `timeout` of silence);
    {"response", "end": eof|reset|timeout, "send_error", "elapsed_s"}."""
    host, port = _split(address)
    arg = json.dumps([host, port, chunk, timeout])
    p = sb.exec(sb.gateway, [PYTHON, "-c", _RAW, arg], check=False, timeout=timeout + 20, input=data.hex())
    if p.returncode != 0:
        raise SandboxError(f"admin raw request: {p.stderr.strip()[-800:]}")
    return json.loads(p.stdout)


def curl(sb: Sandbox, url: str, *extra: str):
    """A plain `curl -sS` in the gateway namespace (CompletedProcess)."""
    return sb.exec(sb.gateway, ["curl", "-sS", "--max-time", "5", *extra, url], check=False, timeout=20)


def wait_readyz(sb: Sandbox, status: int, timeout: float = 5.0) -> dict:
    """Polls /readyz until it answers `status`; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        r = admin_get(sb, "/readyz")
        if r["status"] == status or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


# ---------------------------------------------------------------------------- Prometheus text

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE_RE = re.compile(
    rf"^(?P<name>{_NAME})(?:\{{(?P<labels>(?:{_LABEL}={_VALUE}(?:,{_LABEL}={_VALUE})*,?)?)\}})?"
    rf" (?P<value>\S+)(?: (?P<ts>-?[0-9]+))?$")
_PAIR_RE = re.compile(rf"({_LABEL})=({_VALUE})")
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def _float(text: str) -> float | None:
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def _unescape(v: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v[1:-1])


def _family(name: str, types: dict[str, str]) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base
    return name


def parse_prometheus(text: str) -> tuple[list[tuple[str, dict, float]], dict[str, str], list[str]]:
    """(samples as (name, labels, value), family → TYPE, format errors). The errors list every
    line that is neither a comment nor `name{labels} value`, a TYPE after its samples or twice, a
    family whose samples are not together, a duplicate series, a negative counter, a histogram
    whose buckets are not cumulative or whose +Inf bucket is not its _count, a missing final
    newline."""
    samples: list[tuple[str, dict, float]] = []
    types: dict[str, str] = {}
    errors: list[str] = []
    seen_families: list[str] = []
    series: set[tuple] = set()
    if text and not text.endswith("\n"):
        errors.append("the text does not end with a newline")
    for n, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                if not re.fullmatch(_NAME, parts[2]):
                    errors.append(f"line {n}: bad metric name in {parts[1]}: {line!r}")
                    continue
                if parts[1] == "TYPE":
                    t = parts[3] if len(parts) > 3 else ""
                    if t not in _TYPES:
                        errors.append(f"line {n}: unknown TYPE {t!r}")
                    if parts[2] in types:
                        errors.append(f"line {n}: second TYPE for {parts[2]}")
                    if parts[2] in seen_families:
                        errors.append(f"line {n}: TYPE for {parts[2]} after its samples")
                    types[parts[2]] = t
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            errors.append(f"line {n}: not a comment nor `name{{labels}} value`: {line!r}")
            continue
        value = _float(m.group("value"))
        if value is None:
            errors.append(f"line {n}: value {m.group('value')!r} is not a number")
            continue
        labels = {k: _unescape(v) for k, v in _PAIR_RE.findall(m.group("labels") or "")}
        name = m.group("name")
        fam = _family(name, types)
        if fam in seen_families and seen_families[-1] != fam:
            errors.append(f"line {n}: samples of {fam} are not together")
        if not seen_families or seen_families[-1] != fam:
            seen_families.append(fam)
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            errors.append(f"line {n}: duplicate series {line!r}")
        series.add(key)
        if types.get(fam) == "counter" and not value >= 0:
            errors.append(f"line {n}: counter {name} is {value}")
        samples.append((name, labels, value))
    for fam, t in types.items():
        if t != "histogram":
            continue
        buckets = [(s[1].get("le"), s[2]) for s in samples if s[0] == fam + "_bucket"]
        counts = [s[2] for s in samples if s[0] == fam + "_count"]
        if not buckets or not counts or "+Inf" not in [b[0] for b in buckets]:
            errors.append(f"histogram {fam}: needs _bucket series with le=\"+Inf\" and _count")
            continue
        values = [v for _, v in buckets]
        if values != sorted(values):
            errors.append(f"histogram {fam}: buckets are not cumulative: {buckets}")
        if dict(buckets)["+Inf"] != counts[0]:
            errors.append(f"histogram {fam}: +Inf bucket {dict(buckets)['+Inf']} != _count {counts[0]}")
        les = [_float(b[0]) for b in buckets]
        if les != sorted(les):
            errors.append(f"histogram {fam}: le bounds not increasing")
    return samples, types, errors


def value(samples: list[tuple[str, dict, float]], name: str, **labels) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when none)."""
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in labels.items()))


def has(samples: list[tuple[str, dict, float]], name: str) -> bool:
    return any(n == name for n, _, _ in samples)


def scrape(sb: Sandbox) -> tuple[list[tuple[str, dict, float]], dict[str, str], list[str]]:
    r = admin_get(sb, "/metrics")
    if r["status"] != 200:
        raise SandboxError(f"/metrics answered {r['status']}: {r['body'][:300]}")
    return parse_prometheus(r["body"])


def _is_address(v: str) -> bool:
    """An IP address, "ip:port" or "[ip6]:port"."""
    candidates = [v]
    if v.startswith("[") and "]" in v:
        candidates.append(v[1:v.index("]")])
    elif v.count(":") == 1:
        candidates.append(v.split(":")[0])
    for c in candidates:
        try:
            ipaddress.ip_address(c)
            return True
        except ValueError:
            pass
    return False


def unbounded_label_values(samples: list[tuple[str, dict, float]], forbidden: set[str]) -> list[str]:
    """Label values that are an address, an endpoint, an identity (a URI) or contain one of
    `forbidden` (the addresses and identities a test used): such labels would make a series per
    client."""
    bad = []
    for name, labels, _ in samples:
        for k, v in labels.items():
            if _is_address(v) or "://" in v or any(f and f in v for f in forbidden):
                bad.append(f"{name}{{{k}={v!r}}}")
    return bad


# ------------------------------------------------------------------------------- audit schema


class SchemaChecker:
    """Validates audit records against docs/audit.schema.json."""

    def __init__(self, source_dir: str) -> None:
        import jsonschema  # Debian python3-jsonschema (scripts/install-deps.sh)

        self.path = Path(source_dir) / "docs" / "audit.schema.json"
        schema = json.loads(self.path.read_text())
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        self.validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        self.checked = 0
        self.events: dict[str, int] = {}

    def errors(self, records: list[dict]) -> list[str]:
        out = []
        for rec in records:
            self.checked += 1
            ev = rec.get("event", "?")
            self.events[ev] = self.events.get(ev, 0) + 1
            for e in self.validator.iter_errors(rec):
                path = "/".join(str(p) for p in e.absolute_path)
                out.append(f"seq {rec.get('seq')} ({ev}) {path}: {e.message[:300]}")
        return out


def check_schema(t, records: list[dict], what: str) -> None:
    """harness check: every record in `records` validates against the schema."""
    sc = SchemaChecker(t.args.source_dir)
    errs = sc.errors(records)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(sc.events.items()))
    t.check(bool(records) and not errs,
            f"{what}: all {len(records)} audit records validate against docs/audit.schema.json ({counts})",
            "\n      ".join(errs[:10]) or "no records")


# ------------------------------------------------------------------------------ egressd runs


def write_config(sb: Sandbox, policy_files: dict[str, str], config: dict | None, name: str,
                 audit_path: str | None = None) -> tuple[Path, dict, Path, Path]:
    """gateway.write_config, then the audit path replaced by `audit_path` when given."""
    config_path, cfg, policy_dir, default_audit = gateway.write_config(sb, policy_files, config, name)
    if audit_path is None:
        return config_path, cfg, policy_dir, default_audit
    cfg["audit"]["path"] = audit_path
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return config_path, cfg, policy_dir, Path(audit_path)


def spawn_egressd(t, config_path: Path, cfg: dict, policy_dir: Path, audit_path: Path, name: str,
                  prefix: list[str] | None = None, wait_ready: bool = True) -> gateway.Gateway:
    """Starts egressd with an existing config, as `prefix + [egressd, --config, path]` in the
    gateway namespace (the prefix must exec egressd, so the process is egressd itself). The
    Gateway reads its audit log at `audit_path` and is registered with the case (diagnostics)."""
    # Absolute: entering another mount namespace (nsenter) starts in its root directory.
    argv = [*(prefix or []), os.path.abspath(t.args.egressd), "--config", str(config_path)]
    proc = t.sb.spawn(t.sb.gateway, name, argv)
    gw = gateway.Gateway(t.sb, proc, config_path, cfg, policy_dir, audit_path)
    t.gateways.append(gw)
    if wait_ready:
        gateway.wait_gateway_ready(gw)
    return gw


# ------------------------------------------------------------------------------- a slow sink

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class AuditFifo(threading.Thread):
    """A FIFO in the work dir for egressd's stdout (`audit.path: "-"`), copied to `out` by this
    thread. The pipe buffer is shrunk to `pipe_size`; `paused` stops reading; `chunk`/`delay`
    read at most `chunk` bytes every `delay` seconds. After the writer is gone, everything still in
    the pipe is read (it was handed to the kernel) before the thread ends on `finish()`."""

    def __init__(self, work_dir: Path, name: str = "audit", pipe_size: int = 4096,
                 chunk: int = 1 << 16, delay: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.path = work_dir / f"{name}.fifo"
        self.out = work_dir / f"{name}-stdout.jsonl"
        os.mkfifo(self.path)
        # Opened before the writer exists, so egressd's shell does not block opening it.
        self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.pipe_size = fcntl.fcntl(self.fd, F_SETPIPE_SZ, pipe_size)
        self.chunk, self.delay = chunk, delay
        self.paused = threading.Event()
        self._done = threading.Event()
        self.start()

    def prefix(self) -> list[str]:
        """argv prefix that runs egressd with its stdout on the FIFO (exec: same pid)."""
        return ["sh", "-c", 'exec "$@" > "$0"', str(self.path)]

    def run(self) -> None:
        with open(self.out, "wb") as f:
            while True:
                if self.paused.is_set() and not self._done.is_set():
                    time.sleep(0.01)
                    continue
                ready, _, _ = select.select([self.fd], [], [], 0.05)
                data = b""
                if ready:
                    try:
                        data = os.read(self.fd, self.chunk)
                    except BlockingIOError:
                        pass
                if data:
                    f.write(data)
                    f.flush()
                    if self.delay:
                        time.sleep(self.delay)
                    continue
                if self._done.is_set():
                    return  # empty, and no writer left
                time.sleep(0.01)

    def finish(self, timeout: float = 30) -> None:
        """Reads what is left at full speed, then stops (call once the writer has exited)."""
        self.delay = 0
        self.chunk = 1 << 16
        self.paused.clear()
        self._done.set()
        self.join(timeout=timeout)
        if self.fd is not None and not self.is_alive():
            os.close(self.fd)
            self.fd = None
