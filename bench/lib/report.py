"""Medians of runs, and the markdown table with the ratios egressd/HAProxy and egressd/direct."""

from __future__ import annotations

import statistics

import targets

# workload -> (what one op is, proxy CPU unit label, factor from CPU seconds per op to that unit)
OPS = {
    "conn_rate_mtls": ("connection", "µs/conn", 1e6),
    "conn_rate_mtls_resumed": ("connection", "µs/conn", 1e6),
    "throughput_plain": ("GiB", "s/GiB", 1.0),
    "throughput_mtls": ("GiB", "s/GiB", 1.0),
    "rps_plain": ("request", "µs/req", 1e6),
    "conn_close_plain": ("connection", "µs/conn", 1e6),
    "idle_memory_plain": ("connection", "µs/conn", 1e6),
    "idle_memory_mtls": ("connection", "µs/conn", 1e6),
    "conn_rate_sni": ("connection", "µs/conn", 1e6),
    "connect_rate": ("connection", "µs/conn", 1e6),
    "agent_rate": ("connection", "µs/conn", 1e6),
    "tunnel_bulk": ("GiB", "s/GiB", 1.0),
}

# workload -> [(metric key, label, higher is better)]
ROWS = {
    "conn_rate_mtls": [("conn_per_s", "connections/s", True)],
    "conn_rate_mtls_resumed": [("conn_per_s", "connections/s", True), ("resumed_fraction", "resumed fraction", True)],
    "throughput_plain": [("gbit_per_s", "Gbit/s", True)],
    "throughput_mtls": [("gbit_per_s", "Gbit/s", True)],
    "rps_plain": [("req_per_s", "requests/s", True), ("p50_ms", "p50 ms", False), ("p99_ms", "p99 ms", False)],
    "conn_close_plain": [("conn_per_s", "connections/s", True), ("p99_ms", "p99 ms", False)],
    "idle_memory_plain": [("kib_per_conn", "KiB per connection (RSS)", False)],
    "idle_memory_mtls": [("kib_per_conn", "KiB per connection (RSS)", False)],
    "conn_rate_sni": [("conn_per_s", "connections/s", True)],
    "connect_rate": [("conn_per_s", "connections/s", True)],
    "agent_rate": [("conn_per_s", "connections/s", True), ("p99_ms", "p99 ms", False)],
    "tunnel_bulk": [("gbit_per_s", "Gbit/s", True)],
}

# Issue 20's workloads have subjects of their own and a table of their own (_connect_table).
ISSUE20_WORKLOADS = ("connect_rate", "agent_rate", "tunnel_bulk")

PROXIES = ["egressd", "haproxy", "direct"]
VARIANT_LABEL = {"egressd-nowal": "write_ahead: false", "egressd-devnull": "path: /dev/null"}


def _figures(w: str) -> list[tuple[str, str]]:
    """A workload's rows: its own figures, then the proxy's CPU per operation."""
    return [(key, label) for key, label, _ in ROWS[w]] + [("proxy_cpu_s_per_op", f"proxy CPU {OPS[w][1]}")]


def _values(results: dict, w: str, key: str, proxies: list[str]) -> list:
    """One figure of `w` for each proxy; CPU per operation in the unit of OPS[w]."""
    vals = [_cell(results, p, w, key) for p in proxies]
    if key.endswith("cpu_s_per_op"):
        vals = [(v * OPS[w][2] if isinstance(v, (int, float)) else v) for v in vals]
    return vals


def summarise(samples: list[dict]) -> dict:
    errors = [s["error"] for s in samples if "error" in s]
    good = [s for s in samples if "error" not in s]
    out: dict = {"runs": samples}
    if errors:
        out["error"] = errors[0]
    if not good:
        return out
    keys = {k for s in good for k, v in s["metrics"].items() if isinstance(v, (int, float))}
    out["median"] = {k: statistics.median(s["metrics"][k] for s in good if s["metrics"].get(k) is not None)
                     for k in sorted(keys) if any(s["metrics"].get(k) is not None for s in good)}
    cpu = [s["proxy_cpu_s"] / s["ops"] for s in good if "proxy_cpu_s" in s and s["ops"]]
    if cpu:
        out["median"]["proxy_cpu_s_per_op"] = statistics.median(cpu)
    return out


def brief(sample: dict) -> str:
    if "error" in sample:
        return "error"
    parts = [f"{k}={v:.4g}" for k, v in sample["metrics"].items() if isinstance(v, (int, float))]
    if "proxy_cpu_s" in sample:
        parts.append(f"proxy_cpu={sample['proxy_cpu_s']:.2f}s/{sample['ops']:.4g} ops")
    return " ".join(parts)


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def _cell(results: dict, proxy: str, workload: str, key: str):
    p = results["proxies"].get(proxy)
    if p is None:
        return "pending" if proxy == "egressd" else "not run"
    if "pending" in p:
        return "pending"
    if "error" in p:
        return "failed"
    w = p["workloads"].get(workload)
    if w is None:
        return "—"
    if "skipped" in w:
        return "pending" if proxy == "egressd" else "n/a"
    if "median" not in w:
        return "failed"
    return w["median"].get(key)


def _ratio(a, b) -> str:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return f"{a / b:.2f}"
    return "—"


SNI_SUBJECTS = [("egressd", "egressd, CIDR-only rule"), ("egressd-hosts", "egressd, hostname rule"),
                ("haproxy", "HAProxy, req.ssl_sni"), ("squid", "Squid, peek + splice"), ("direct", "direct")]


def _sni_table(results: dict) -> list[str]:
    """conn_rate_sni (issue 19) across its subjects, with the ratios its targets are made of."""
    if not any("conn_rate_sni" in p.get("workloads", {}) for p in results["proxies"].values()):
        return []
    names = [n for n, _ in SNI_SUBJECTS]
    upstream = f" ({results['sni_upstream']})" if results.get("sni_upstream") else ""
    lines = ["", f"conn_rate_sni (issue 19): full TLS handshake with the upstream{upstream} through the proxy, SNI "
             "`allowed.bench.example`, one request per connection. egressd-hosts is egressd with the hostname "
             "rule (bench/policy-hosts/); `pending` with an egressd built before the name step.", "",
             "| figure | " + " | ".join(label for _, label in SNI_SUBJECTS)
             + " | egressd/HAProxy | egressd/Squid | hostname/CIDR-only |",
             "|---|" + "---:|" * (len(names) + 3)]
    for key, label in _figures("conn_rate_sni"):
        vals = dict(zip(names, _values(results, "conn_rate_sni", key, names)))
        if key == "proxy_cpu_s_per_op" and not isinstance(vals["direct"], (int, float)):
            vals["direct"] = "n/a"
        lines.append(f"| {label} | " + " | ".join(_fmt(vals[n]) for n in names) + " | "
                     f"{_ratio(vals['egressd'], vals['haproxy'])} | {_ratio(vals['egressd'], vals['squid'])} | "
                     f"{_ratio(vals['egressd-hosts'], vals['egressd'])} |")
    return lines


# The redecide workloads' figures (issue 21), egressd's subjects only: (key, label).
REDECIDE_ROWS = [
    ("connections", "connections held"),
    ("revoked_conns", "of which the reload revokes"),
    ("revoked_seen_eof", "of which the client saw an EOF, not a reset"),
    ("revoked_eof_then_reset", "... and a reset after that EOF"),
    ("reload_to_first_close_ms", "reload → first client reset, ms"),
    ("reload_to_p50_close_ms", "reload → median client reset, ms"),
    ("reload_to_last_close_ms", "reload → last client reset, ms"),
    ("audit_last_close_ms", "reload → last policy_revoked record, ms"),
    ("reload_record_ms", "reload → policy.reload record, ms"),
    ("redecided", "policy.reload: redecided"),
    ("revoked", "policy.reload: revoked"),
    ("probe_before_p99_ms", "probe round trip before, p99 ms"),
    ("probe_before_max_ms", "probe round trip before, max ms"),
    ("probe_during_p99_ms", "probe round trip during, p99 ms"),
    ("probe_during_max_ms", "probe round trip during, max ms (longest pause)"),
    ("probe_during_samples", "probe round trips during"),
    ("probe_new_conn_during_max_ms", "probe new connection during, max ms"),
    ("redecide_cpu_ms", "egressd CPU from reload to last reset, ms"),
    ("busiest_thread_cpu_ms", "its busiest thread: on a CPU, ms"),
    ("busiest_thread_runqueue_ms", "its busiest thread: runnable, waiting for a CPU, ms"),
]
REDECIDE_WORKLOADS = ("redecide_10k", "redecide_10k_half")


def _redecide_table(results: dict) -> list[str]:
    """Issue 21: a reload re-deciding N held connections, per egressd subject that ran it."""
    subjects = [p for p, v in results["proxies"].items()
                if any("median" in v.get("workloads", {}).get(w, {}) for w in REDECIDE_WORKLOADS)]
    if not subjects:
        return []
    cols = [(w, p) for w in REDECIDE_WORKLOADS for p in subjects
            if "median" in results["proxies"][p]["workloads"].get(w, {})]
    lines = ["", f"Live re-decision (issue 21): {results.get('redecide_conns', '?'):,} connections held through "
             "egressd, then a SIGHUP whose policy no longer allows all of them (redecide_10k) or half "
             "(redecide_10k_half, the other half must keep answering); the probe's round trips on 8 held "
             "connections that stay allowed time the event loops (before: the 2 s before the reload; during: "
             "from the reload to the last reset).", "",
             "| figure | " + " | ".join(f"{w} ({p})" for w, p in cols) + " |", "|---|" + "---:|" * len(cols)]
    for key, label in REDECIDE_ROWS:
        vals = [results["proxies"][p]["workloads"][w]["median"].get(key) for w, p in cols]
        lines.append(f"| {label} | " + " | ".join(f"{v:,}" if isinstance(v, int) else _fmt(v) for v in vals) + " |")
    return lines


def _connect_table(results: dict) -> list[str]:
    """Issue 20: egressd's CONNECT listener against Squid's, and the agent + gateway pair against
    one transparent mTLS connection through the gateway alone (the subject egressd), with the
    ratios its targets are made of."""

    def ran(subjects: tuple[str, ...], *ws: str) -> bool:
        """Whether a workload ran for anyone, or one of its subjects is in the run (maybe pending)."""
        return (any(s in results["proxies"] for s in subjects)
                or any(w in p.get("workloads", {}) for p in results["proxies"].values() for w in ws))

    def one(subject: str, w: str, key: str):
        return _values(results, w, key, [subject])[0]

    lines: list[str] = []
    if ran(("egressd-connect", "squid-connect"), "connect_rate"):
        lines += ["", "Issue 20, CONNECT: `connect_rate` (bench/lib/connect_client.c, 32 at a time: `CONNECT "
                  "203.0.113.10:80` over plain TCP, `GET /` through the tunnel, close) through egressd's "
                  "`destination: connect` listener and Squid's `http_port` (`squid -N`, one process).", "",
                  "| figure | egressd, CONNECT | Squid, CONNECT | egressd/Squid |", "|---|---:|---:|---:|"]
        for key, label in _figures("connect_rate"):
            a, b = one("egressd-connect", "connect_rate", key), one("squid-connect", "connect_rate", key)
            lines.append(f"| {label} | {_fmt(a)} | {_fmt(b)} | {_ratio(a, b)} |")
    if not ran(("egressd-agent",), "agent_rate", "tunnel_bulk"):
        return lines
    lines += ["", "Issue 20, the agent: a client with no proxy setting, redirected to the egressd agent, which "
              "tunnels each connection over mTLS (resumed) to the egressd gateway's CONNECT listener "
              "(egressd-agent: both processes' CPU), against the gateway alone with the client speaking mTLS "
              "to it (egressd: conn_rate_mtls, a full handshake per connection, and throughput_mtls).", "",
              "| figure | agent + gateway | workload | gateway alone, transparent mTLS | workload | ratio |",
              "|---|---:|---|---:|---|---:|"]
    pairs = [("agent_rate", "conn_rate_mtls", [("conn_per_s", "connections/s"),
                                               ("proxy_cpu_s_per_op", "CPU µs/conn (all proxy processes)"),
                                               ("agent_cpu_s_per_op", "of which the agent, µs/conn"),
                                               ("gateway_cpu_s_per_op", "of which the gateway, µs/conn")]),
             ("tunnel_bulk", "throughput_mtls", [("gbit_per_s", "Gbit/s"),
                                                 ("proxy_cpu_s_per_op", "CPU s/GiB (all proxy processes)"),
                                                 ("agent_cpu_s_per_op", "of which the agent, s/GiB"),
                                                 ("gateway_cpu_s_per_op", "of which the gateway, s/GiB")])]
    if isinstance(_cell(results, "egressd", "conn_rate_mtls_resumed", "proxy_cpu_s_per_op"), (int, float)):
        # Not a target: the same connection against a resumed transparent one (the agent's own
        # session with the gateway is resumed; conn_rate_mtls's are full handshakes).
        pairs.insert(1, ("agent_rate", "conn_rate_mtls_resumed",
                         [("proxy_cpu_s_per_op", "CPU µs/conn (all proxy processes)")]))
    for mine, base, keys in pairs:
        for key, label in keys:
            a = one("egressd-agent", mine, key)
            b = one("egressd", base, key) if not key.startswith(("agent_", "gateway_")) else None
            lines.append(f"| {label} | {_fmt(a)} | {mine} | {_fmt(b)} | {base} | {_ratio(a, b)} |")
    return lines


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Benchmark {results['date']} (git {results['git']}), {'QUICK smoke run, ' if results['quick'] else ''}"
        f"median of {results['runs']} run(s), {results['threads']} proxy threads, "
        f"egressd audit {results['egressd']['audit']}.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB, Linux {m['kernel']}; {m['haproxy']}; "
        f"{m['openssl']}; load average at start {' '.join(m['loadavg_at_start'])}.",
        "Ratios are egressd's figure divided by the other's: above 1 is better for rates, below 1 is better "
        "for CPU per operation, latency and memory.",
        "",
        "| workload | figure | egressd | HAProxy | direct | egressd/HAProxy | egressd/direct |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    workloads = [w for w in ROWS if w not in ISSUE20_WORKLOADS
                 and any(w in p.get("workloads", {}) for p in results["proxies"].values())]
    if not workloads:
        del lines[-3:]  # a run of issue 20's workloads alone: no rows for the main table
    for w in workloads:
        for key, label in _figures(w):
            vals = dict(zip(PROXIES, _values(results, w, key, PROXIES)))
            if key == "proxy_cpu_s_per_op" and not isinstance(vals["direct"], (int, float)):
                vals["direct"] = "n/a"
            lines.append(f"| {w} | {label} | {_fmt(vals['egressd'])} | {_fmt(vals['haproxy'])} | "
                         f"{_fmt(vals['direct'])} | {_ratio(vals['egressd'], vals['haproxy'])} | "
                         f"{_ratio(vals['egressd'], vals['direct'])} |")
    lines += targets.markdown(results)
    if any(isinstance(_cell(results, "direct", w, "proxy_cpu_s_per_op"), (int, float))
           for w in ("conn_rate_mtls", "conn_rate_mtls_resumed")):
        lines += ["", "direct's proxy CPU in conn_rate_mtls and conn_rate_mtls_resumed is that of its TLS endpoint "
                  "(`openssl s_server`, session cache, no tickets): the TLS work alone, with no upstream connection, "
                  "policy or audit."]
    variants = [v for v in ("egressd-nowal", "egressd-devnull") if v in results["proxies"]]
    if variants and "egressd" in results["proxies"]:
        head = " | ".join(VARIANT_LABEL[v] for v in variants)
        lines += ["", "egressd's audit: write-ahead to a tmpfs file (the default) vs the variants:", "",
                  f"| workload | figure | write-ahead, file | {head} | " + " | ".join(f"default/{v}" for v in variants)
                  + " |", "|---|---|---:|" + "---:|" * (2 * len(variants))]
        for w in workloads:
            for key, label in _figures(w):
                vals = _values(results, w, key, ["egressd"] + variants)
                lines.append(f"| {w} | {label} | " + " | ".join(_fmt(v) for v in vals) + " | "
                             + " | ".join(_ratio(vals[0], v) for v in vals[1:]) + " |")
    if "haproxy-log" in results["proxies"] and "egressd" in results["proxies"]:
        lines += ["", "egressd (which always writes its audit log) against HAProxy logging each connection "
                  "(option tcplog, one line per connection to a file on the same tmpfs):", "",
                  "| workload | figure | egressd | HAProxy, logging | HAProxy, no log | egressd/HAProxy logging |",
                  "|---|---|---:|---:|---:|---:|"]
        for w in workloads:
            for key, label in _figures(w):
                vals = _values(results, w, key, ["egressd", "haproxy-log", "haproxy"])
                lines.append(f"| {w} | {label} | " + " | ".join(_fmt(v) for v in vals) + " | "
                             + _ratio(vals[0], vals[1]) + " |")
    lines += _sni_table(results)
    lines += _redecide_table(results)
    lines += _connect_table(results)
    errs = [(p, v["error"]) for p, v in results["proxies"].items() if "error" in v]
    errs += [(p, f"{w}: {r['error']}") for p, v in results["proxies"].items()
             for w, r in v.get("workloads", {}).items() if "error" in r]
    if errs:
        lines += ["", "Failures:"] + [f"- {p}: {e[:300]}" for p, e in errs]
    micro = results.get("microbenchmarks") or {}
    if micro:
        reps = max((b.get("repetitions", 1) for v in micro.values() if isinstance(v, list) for b in v), default=1)
        lines += ["", f"| microbenchmark (median of {reps} repetition(s)) | time |", "|---|---:|"]
        for exe, benches in micro.items():
            if isinstance(benches, dict):
                lines.append(f"| {exe} | error |")
                continue
            for b in benches:
                lines.append(f"| {exe}: {b['name']} | {b['real_time']:.4g} {b['time_unit']} |")
    return "\n".join(lines) + "\n"
