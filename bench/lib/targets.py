"""Issues 7, 19, 20 and 21's targets, judged on one run's results: each is a ratio of egressd's figure to
another subject's from the same run (or a microbenchmark's time), with the bound it must meet. Issue
21's are absolute: a figure of egressd's own (milliseconds), judged against its bound alone."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    name: str       # as the issue words it
    workload: str   # workload, or microbenchmark executable when micro
    key: str        # metric key (proxy_cpu_s_per_op, conn_per_s, ...) or microbenchmark name
    other: str      # subject egressd is compared with; "" for a microbenchmark's absolute time
    bound: float    # the ratio (or time, ns) must be <= bound, or >= bound when at_least
    at_least: bool = False
    micro: bool = False
    subject: str = "egressd"  # the subject judged
    fallback: str = ""  # judged instead while `subject` is pending (said so in the verdict)
    pending: str = ""  # what the verdict says while `subject` (and any fallback) has no figure
    unit: str = ""  # an absolute target's unit ("ms"): egressd's own figure against the bound, no `other`
    conns: int = 0  # the redecide workloads' connection count the bound is for (judged at that count only)
    other_workload: str = ""  # the workload of `other`'s figure when not `workload` (issue 20's baselines)


TARGETS = [
    Target("conn_rate_mtls: proxy CPU per connection ≤ 0.66 × HAProxy's", "conn_rate_mtls",
           "proxy_cpu_s_per_op", "haproxy", 0.66),
    # 3 x HAProxy's rate per core: a third of its CPU per connection.
    Target("conn_rate_mtls_resumed: ≥ 3 × HAProxy's rate per core (CPU per connection ≤ 1/3)",
           "conn_rate_mtls_resumed", "proxy_cpu_s_per_op", "haproxy", 1 / 3),
    Target("conn_close_plain: connections/s ≥ 1.0 × HAProxy's", "conn_close_plain", "conn_per_s", "haproxy",
           1.0, at_least=True),
    Target("conn_close_plain: proxy CPU per connection ≤ HAProxy's", "conn_close_plain", "proxy_cpu_s_per_op",
           "haproxy", 1.0),
    Target("rps_plain: requests/s ≥ 1.0 × HAProxy's", "rps_plain", "req_per_s", "haproxy", 1.0, at_least=True),
    Target("rps_plain: p99 ≤ HAProxy's", "rps_plain", "p99_ms", "haproxy", 1.0),
    Target("throughput_plain: proxy CPU per GiB ≤ HAProxy's", "throughput_plain", "proxy_cpu_s_per_op",
           "haproxy", 1.0),
    Target("throughput_mtls: proxy CPU per GiB ≤ HAProxy's", "throughput_mtls", "proxy_cpu_s_per_op",
           "haproxy", 1.0),
    Target("idle_memory_plain: RSS per connection ≤ HAProxy's", "idle_memory_plain", "kib_per_conn", "haproxy",
           1.0),
    Target("idle_memory_mtls: RSS per connection ≤ HAProxy's", "idle_memory_mtls", "kib_per_conn", "haproxy",
           1.0),
    Target("policy decision at 10,000 rules < 1 µs", "policy_decision_bench", "BM_Decision/10000", "", 1000.0,
           micro=True),
    Target("policy decision at 100,000 rules < 2 µs", "policy_decision_bench", "BM_Decision/100000", "", 2000.0,
           micro=True),
    # Issue 19 (conn_rate_sni). egressd's figure is the hostname rule's (egressd-hosts) once the
    # name step is built; until then its CIDR-only rule's, marked as such in the verdict.
    Target("conn_rate_sni: egressd proxy CPU per connection ≤ 1.0 × HAProxy's (req.ssl_sni)", "conn_rate_sni",
           "proxy_cpu_s_per_op", "haproxy", 1.0, subject="egressd-hosts", fallback="egressd"),
    Target("conn_rate_sni: egressd proxy CPU per connection ≤ 0.33 × Squid's (peek + splice)", "conn_rate_sni",
           "proxy_cpu_s_per_op", "squid", 0.33, subject="egressd-hosts", fallback="egressd"),
    Target("conn_rate_sni: the name costs egressd ≤ 10 % CPU per connection vs its CIDR-only rule",
           "conn_rate_sni", "proxy_cpu_s_per_op", "egressd", 1.10, subject="egressd-hosts",
           pending="pending: name step not built"),
    Target("write-ahead audit on vs off: < 5 % fewer connections/s (conn_close_plain)", "conn_close_plain",
           "conn_per_s", "egressd-nowal", 0.95, at_least=True),
    # Issue 21: re-deciding 10,000 live connections must not stall the workers (bounds set by the
    # lead's brief; docs/performance.md has what was measured against them).
    Target("redecide_10k: reload to the last client's reset ≤ 1 s (10,000 connections revoked)", "redecide_10k",
           "reload_to_last_close_ms", "", 1000.0, unit="ms", conns=10000),
    Target("redecide_10k: longest probe round trip while it runs ≤ 50 ms", "redecide_10k",
           "probe_during_max_ms", "", 50.0, unit="ms", conns=10000),
    Target("redecide_10k_half: reload to the last client's reset ≤ 1 s (5,000 of 10,000 revoked)",
           "redecide_10k_half", "reload_to_last_close_ms", "", 1000.0, unit="ms", conns=10000),
    Target("redecide_10k_half: longest probe round trip while it runs ≤ 50 ms", "redecide_10k_half",
           "probe_during_max_ms", "", 50.0, unit="ms", conns=10000),
    # Issue 20. egressd's CONNECT listener (plain TCP) against Squid's http_port, both explicit
    # proxies; then the agent + gateway pair against one transparent mTLS connection through the
    # gateway alone (the subject egressd's conn_rate_mtls and throughput_mtls in the same run).
    Target("connect_rate: CONNECT connections/s ≥ 3 × Squid's", "connect_rate", "conn_per_s", "squid-connect", 3.0,
           at_least=True, subject="egressd-connect", pending="pending: CONNECT listener not built"),
    Target("connect_rate: proxy CPU per CONNECT connection ≤ 0.33 × Squid's", "connect_rate", "proxy_cpu_s_per_op",
           "squid-connect", 0.33, subject="egressd-connect", pending="pending: CONNECT listener not built"),
    Target("agent_rate: agent + gateway CPU per connection (mTLS resumed) ≤ 2 × conn_rate_mtls's (gateway alone)",
           "agent_rate", "proxy_cpu_s_per_op", "egressd", 2.0, subject="egressd-agent",
           pending="pending: agent not built", other_workload="conn_rate_mtls"),
    Target("tunnel_bulk: Gbit/s through agent + gateway ≥ 0.9 × throughput_mtls's (transparent mTLS)",
           "tunnel_bulk", "gbit_per_s", "egressd", 0.9, at_least=True, subject="egressd-agent",
           pending="pending: agent not built", other_workload="throughput_mtls"),
]

_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def _median(results: dict, subject: str, workload: str, key: str):
    w = results.get("proxies", {}).get(subject, {}).get("workloads", {}).get(workload, {})
    v = w.get("median", {}).get(key)
    return v if isinstance(v, (int, float)) else None


def _failed(results: dict, subject: str, workload: str) -> bool:
    p = results.get("proxies", {}).get(subject, {})
    return "error" in p or "error" in p.get("workloads", {}).get(workload, {})


def _micro_ns(results: dict, exe: str, name: str):
    for b in (results.get("microbenchmarks") or {}).get(exe) or []:
        if isinstance(b, dict) and b.get("name") == name:
            return b["real_time"] * _NS.get(b.get("time_unit", "ns"), 1.0)
    return None


def verdicts(results: dict) -> list[dict]:
    """One entry per target that this run measured: its value (ratio, or ns) and whether it is met."""
    out = []
    for t in TARGETS:
        if t.micro:
            value = _micro_ns(results, t.workload, t.key)
        elif t.unit:
            subject = t.subject
            value = _median(results, subject, t.workload, t.key)
            held = results.get("redecide_conns") or 0
            # Judged within 5 % of the count the bound is for (a descriptor limit of 20,000 holds
            # 9,900), and said so; a smoke run's 1,000 is not judged.
            if value is not None and t.conns and held < 0.95 * t.conns:
                out.append({"target": t.name, "value": value, "unit": t.unit, "met": None,
                            "pending": f"not judged: {held:,} connections held, the bound is for {t.conns:,}"})
                continue
        else:
            subject = t.subject
            mine = _median(results, subject, t.workload, t.key)
            if mine is None and t.fallback:
                subject = t.fallback
                mine = _median(results, subject, t.workload, t.key)
            theirs = _median(results, t.other, t.other_workload or t.workload, t.key)
            value = mine / theirs if mine is not None and theirs else None
            if value is None and t.pending and theirs is not None:
                # A subject that ran and failed is not one waiting for code: say which.
                failed = _failed(results, subject, t.workload)
                out.append({"target": t.name, "value": None, "unit": "ratio", "met": None,
                            "pending": f"{subject} failed (see Failures)" if failed else t.pending})
                continue
        if value is None:
            continue
        met = value >= t.bound if t.at_least else value <= t.bound
        row = {"target": t.name, "value": value, "unit": "ns" if t.micro else (t.unit or "ratio"), "met": met}
        if t.conns and results.get("redecide_conns") != t.conns:
            row["judged_on"] = f"{results.get('redecide_conns'):,} connections held"
        if not t.micro and not t.unit and subject != t.subject:
            row["judged_on"] = f"{subject}, CIDR-only rule: name step not built"
        out.append(row)
    return out


def markdown(results: dict) -> list[str]:
    rows = verdicts(results)
    if not rows:
        return []
    lines = ["", "Issue 7's, 19's, 20's and 21's targets in this run (one run decides nothing on this VM: compare several, see "
             "docs/performance.md):", "", "| target | this run | |", "|---|---:|---|"]
    for r in rows:
        value = ("—" if r["value"] is None else f"{r['value']:,.0f} ns" if r["unit"] == "ns"
                 else f"{r['value']:,.1f} ms" if r["unit"] == "ms" else f"{r['value']:.2f} ×")
        if r.get("pending"):
            lines.append(f"| {r['target']} | {value} | {r['pending']} |")
            continue
        verdict = "met" if r["met"] else "**not met**"
        if r.get("judged_on"):
            verdict += f" (judged on {r['judged_on']})"
        lines.append(f"| {r['target']} | {value} | {verdict} |")
    return lines
