"""The workloads of issues 7, 19 and 20, each a real client run in the client namespace.

A workload's run(ctx) returns {"ops": <operations done>, "metrics": {...client figures...}};
bench.py wraps it with the proxy's CPU time (and RSS for idle_memory). "ops" is what the proxy's CPU
is divided by: connections, requests, or GiB.
"""

from __future__ import annotations

import json
import os
import re
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redecide
from netns import ALLOWED_NAME, CONNECT_PORT, DIRECT_TLS, GW_CLIENT_V4, TLS_PORT, UPSTREAM_A, UPSTREAM_B, Sandbox
from proxies import cpu_seconds, thread_schedstat

LIB = Path(__file__).resolve().parent
GIB = 1 << 30


@dataclass
class Ctx:
    sb: Sandbox
    proxy: object  # proxies.Proxy
    certs: dict[str, str]
    quick: bool
    duration: float  # seconds per timed run
    workdir: Path
    idle_conns: int
    mtls_bytes: int
    tls_endpoint: subprocess.Popen | None = None  # direct: the openssl s_server of the s_time workloads
    redecide_conns: int = 10000  # connections held in the redecide workloads
    tools: Path | None = None  # run.sh's compiled tools (upstream, connect_client)

    @property
    def direct(self) -> bool:
        return self.proxy.name == "direct"

    def client(self, argv: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
        return self.sb.run(self.sb.client, argv, timeout=timeout, **kw)


def _mtls_target(ctx: Ctx, port: int) -> str:
    # Through a proxy the client dials the real destination and the redirect takes it to the
    # gateway; direct, it dials a TLS endpoint in the internet namespace.
    return f"{DIRECT_TLS if ctx.direct else UPSTREAM_B}:{port}"


def _s_time(ctx: Ctx, mode: str) -> dict:
    c = ctx.certs
    argv = ["openssl", "s_time", "-connect", _mtls_target(ctx, 8443), mode, "-cert", c["client_cert"],
            "-key", c["client_key"], "-CAfile", c["ca"], "-time", str(int(ctx.duration)), "-www", "/ok"]
    t0 = time.monotonic()
    p = ctx.client(argv, timeout=ctx.duration + 30)
    wall = time.monotonic() - t0
    m = re.search(r"(\d+) connections in [\d.]+s;", p.stdout)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"s_time failed ({p.returncode}): {p.stdout[-500:]} {p.stderr[-500:]}")
    n = int(m.group(1))
    marks = "".join(re.findall(r"^[*r]+$", p.stdout, re.M))
    bytes_read = re.search(r"(\d+) bytes read per connection", p.stdout)
    if bytes_read and int(bytes_read.group(1)) == 0:
        raise RuntimeError("s_time read no response bytes: the request did not reach the upstream")
    return {"ops": n, "metrics": {"conn_per_s": n / wall,
                                  "resumed_fraction": (marks.count("r") / len(marks)) if marks else None}}


def conn_rate_mtls(ctx: Ctx) -> dict:
    return _s_time(ctx, "-new")


def conn_rate_mtls_resumed(ctx: Ctx) -> dict:
    return _s_time(ctx, "-reuse")


def throughput_plain(ctx: Ctx) -> dict:
    argv = ["iperf3", "-c", UPSTREAM_A, "-p", "5201", "-t", str(int(ctx.duration)), "-J"]
    p = ctx.client(argv, timeout=ctx.duration + 30)
    if p.returncode != 0:
        raise RuntimeError(f"iperf3 failed: {p.stdout[-800:]} {p.stderr[-300:]}")
    end = json.loads(p.stdout)["end"]
    recv = end["sum_received"]
    return {"ops": recv["bytes"] / GIB, "metrics": {"gbit_per_s": recv["bits_per_second"] / 1e9}}


def throughput_mtls(ctx: Ctx) -> dict:
    c = ctx.certs
    mib = ctx.mtls_bytes // (1 << 20)
    target = _mtls_target(ctx, 8444)
    cmd = (f"dd if=/dev/zero bs=1M count={mib} status=none | socat -b 262144 -u STDIN "
           f"OPENSSL:{target},cert={c['client_cert']},key={c['client_key']},cafile={c['ca']},verify=0")
    t0 = time.monotonic()
    p = ctx.client(["sh", "-c", cmd], timeout=300)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"socat failed ({p.returncode}): {p.stderr[-500:]}")
    nbytes = mib << 20
    return {"ops": nbytes / GIB, "metrics": {"gbit_per_s": nbytes * 8 / wall / 1e9}}


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def _wrk(ctx: Ctx, close: bool, url: str = f"http://{UPSTREAM_A}/") -> dict:
    argv = ["wrk", "-t1", "-c32", f"-d{int(ctx.duration)}s", "--latency", "--timeout", "5s"]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(url)
    p = ctx.client(argv, timeout=ctx.duration + 30)
    out = p.stdout
    m = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if p.returncode != 0 or not m or not rps:
        raise RuntimeError(f"wrk failed: {out[-800:]} {p.stderr[-300:]}")
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    metrics = {"req_per_s": float(rps.group(1)), "p50_ms": _ms(lat["50"]), "p99_ms": _ms(lat["99"])}
    if errors:
        metrics["socket_errors"] = errors.group(1).strip()
    if non2xx:
        raise RuntimeError(f"wrk saw {non2xx.group(1)} non-2xx responses")
    return {"ops": int(m.group(1)), "metrics": metrics}


def rps_plain(ctx: Ctx) -> dict:
    return _wrk(ctx, close=False)


def conn_close_plain(ctx: Ctx) -> dict:
    r = _wrk(ctx, close=True)
    r["metrics"]["conn_per_s"] = r["metrics"].pop("req_per_s")
    return r


def _idle(ctx: Ctx, tls: bool) -> dict:
    """Opens idle_conns connections (TLS: full mTLS handshake each) and holds them; bench.py reads
    the proxy's RSS while they are held (the "hold" callback)."""
    c = ctx.certs
    argv = [sys.executable, str(LIB / "idle_client.py"), "--count", str(ctx.idle_conns)]
    if tls:
        argv += ["--connect", f"{UPSTREAM_B}:8444", "--cert", c["client_cert"], "--key", c["client_key"],
                 "--ca", c["ca"]]
    else:
        argv += ["--connect", f"{UPSTREAM_A}:9000"]
    p = subprocess.Popen(ctx.sb.ns_exec(ctx.sb.client, *argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        if not line.startswith("ready"):
            p.kill()
            raise RuntimeError(f"idle client failed: {line} {p.stderr.read()[-800:]}")
        opened = int(line.split()[1])
        return {"ops": opened, "metrics": {"connections": opened}, "_holder": p}
    except BaseException:
        if p.poll() is None:
            p.kill()
        raise


def idle_memory_plain(ctx: Ctx) -> dict:
    return _idle(ctx, tls=False)


def idle_memory_mtls(ctx: Ctx) -> dict:
    return _idle(ctx, tls=True)



def connection_rate(ctx, argv: list, client: str, unit: str) -> dict:
    """Runs a client that opens connections for ctx.duration and prints one JSON line
    ({connections, failed, seconds, first_error}); any failed connection fails the run."""
    p = ctx.client(argv, timeout=ctx.duration + 30)
    try:
        r = json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"{client} failed ({p.returncode}): {p.stdout[-500:]} {p.stderr[-500:]}") from None
    if r["failed"] or not r["connections"]:
        raise RuntimeError(f"{client}: {r['failed']} of {r['failed'] + r['connections']} {unit} failed "
                           f"(first: {r['first_error']})")
    return {"ops": r["connections"], "metrics": {"conn_per_s": r["connections"] / r["seconds"]}}

def conn_rate_sni(ctx: Ctx) -> dict:
    """Issue 19: TLS connections per second through the proxy, each a full TLS handshake with the
    real upstream (openssl s_server on 203.0.113.20:443, no session tickets) sending the allowed
    name as SNI, and one request. The proxy passes the TLS through: its work is the decision (the
    address; and the name for the name-aware subjects) and the forwarding."""
    argv = [sys.executable, str(LIB / "tls_client.py"), "--connect", f"{UPSTREAM_B}:{TLS_PORT}", "--servername",
            ALLOWED_NAME, "--duration", str(ctx.duration), "--concurrency", "4"]
    return connection_rate(ctx, argv, "tls_client", "connections")


def _lines(p: subprocess.Popen) -> queue.Queue:
    """p's stdout lines, read by a thread of their own (a select() on the pipe would not see a
    line already in the reader's buffer); "" at EOF."""
    q: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in p.stdout:
            q.put(line)
        q.put("")

    threading.Thread(target=pump, daemon=True).start()
    return q


def _readline(p: subprocess.Popen, lines: queue.Queue, timeout: float, what: str) -> str:
    """The next line of p's stdout within timeout seconds (the process's stderr in the error)."""
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        line = ""
    if not line:
        p.kill()
        raise RuntimeError(f"{what}: no line within {timeout:.0f} s (exit {p.wait()}): {p.stderr.read()[-800:]}")
    return line


def _redecide_setup(ctx: Ctx):
    """Before egressd starts: its policy directory is a writable copy holding POLICY_BEFORE, and
    max_connections leaves room for the held connections. Returns what undoes it."""
    proxy = ctx.proxy
    pdir = ctx.workdir / "redecide-policy"
    pdir.mkdir(exist_ok=True)
    (pdir / "policy.yaml").write_text(redecide.POLICY_BEFORE)
    saved = proxy.policy_override, proxy.max_connections
    proxy.policy_override, proxy.max_connections = pdir, ctx.redecide_conns + 1000

    def restore() -> None:
        proxy.policy_override, proxy.max_connections = saved

    return restore


def _redecide(ctx: Ctx, kept_fraction: float) -> dict:
    """Issue 21: N allowed connections held through egressd, then a reload (SIGHUP) whose policy
    no longer allows `1 - kept_fraction` of them; the probe's round trips time the event loops
    meanwhile. See lib/redecide.py and bench/README.md."""
    n = ctx.redecide_conns
    kept = int(n * kept_fraction)
    proxy = ctx.proxy
    argv = [sys.executable, str(LIB / "redecide_client.py"), "--revoked", f"{redecide.REVOKED_DST}={n - kept}"]
    if kept:
        argv += ["--kept", f"{redecide.KEPT_DST}={kept}"]
    spawn = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The probe and its own upstream run SCHED_FIFO when the machine allows it: on 2 shared cores
    # their own wait for a CPU (behind the client handling thousands of resets) would otherwise be
    # counted as egressd's pause. egressd runs at normal priority.
    rt = ["chrt", "-f", "10"] if shutil.which("chrt") and subprocess.run(
        ["chrt", "-f", "10", "true"], capture_output=True).returncode == 0 else []
    probe_upstream = ctx.sb.spawn(ctx.sb.internet, rt + [str(ctx.tools / "upstream"), "http", redecide.PROBE_DST])
    deadline = time.monotonic() + 10
    while f"{redecide.PROBE_DST} " not in ctx.sb.run(ctx.sb.internet, ["ss", "-Hltn"], timeout=5).stdout:
        if time.monotonic() > deadline or probe_upstream.poll() is not None:
            raise RuntimeError(f"the probe's upstream did not listen on {redecide.PROBE_DST}")
        time.sleep(0.05)
    client = subprocess.Popen(ctx.sb.ns_exec(ctx.sb.client, *argv), **spawn)
    client_out = _lines(client)
    probe = None
    try:
        line = _readline(client, client_out, 240, "redecide client")
        if not line.startswith("ready"):
            raise RuntimeError(f"redecide client: {line.strip()[:800]}; egressd's audit: "
                               f"{redecide.outcomes(proxy.audit_dir / 'audit.jsonl') if proxy.audit else '-'}; "
                               f"its log ends: {proxy.log_tail(800)}")
        probe = subprocess.Popen(ctx.sb.ns_exec(ctx.sb.client, *rt, sys.executable, str(LIB / "latency_probe.py"),
                                                "--connect", redecide.PROBE_DST), **spawn)
        probe_out_lines = _lines(probe)
        if _readline(probe, probe_out_lines, 30, "latency probe").strip() != "ready":
            raise RuntimeError("latency probe did not start")
        time.sleep(1.0 if ctx.quick else 2.0)  # the probe's baseline, N connections held idle
        pdir = proxy.policy_override
        (pdir / "policy.yaml.next").write_text(redecide.POLICY_AFTER)
        os.replace(pdir / "policy.yaml.next", pdir / "policy.yaml")
        cpu0, sched0 = cpu_seconds(proxy.pid), thread_schedstat(proxy.pid)
        t0 = time.time()
        os.kill(proxy.pid, signal.SIGHUP)
        client.stdin.write(f"go {t0!r}\n")
        client.stdin.flush()
        settled = json.loads(_readline(client, client_out, 60, "redecide client (after the reload)"))
        cpu1, sched1 = cpu_seconds(proxy.pid), thread_schedstat(proxy.pid)
        done = json.loads(_readline(client, client_out, 30, "redecide client (kept connections)"))
        time.sleep(0.2)
        probe.stdin.write("stop\n")
        probe.stdin.flush()
        probe_out = json.loads(_readline(probe, probe_out_lines, 30, "latency probe (stop)"))
    finally:
        for p in (client, probe, probe_upstream):
            if p and p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    audit = None
    if proxy.audit:
        # The policy.reload record waits for the workers' counts (up to 2 s): wait for it.
        path = proxy.audit_dir / "audit.jsonl"
        deadline = time.monotonic() + 5
        while True:
            audit = redecide.read_audit(path.read_text(errors="replace").splitlines(), t0)
            if (audit["reloads"] and audit["close_policy_revoked"] >= n - kept) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    bad = redecide.problems(settled, done, probe_out, audit)
    if bad:
        raise RuntimeError("; ".join(bad) + (f"; egressd's audit: {redecide.outcomes(path)}" if proxy.audit else "")
                           + f"; the client's stderr: {client.stderr.read()[-600:]}; egressd's log ends: "
                           f"{proxy.log_tail(600)}")
    m = redecide.metrics(t0, settled, done, probe_out, audit)
    m["redecide_cpu_ms"] = (cpu1 - cpu0) * 1e3
    m.update(redecide.busiest_thread(sched0, sched1))
    m["probe_sched_fifo"] = 1 if rt else 0
    return {"ops": n, "metrics": m}


def redecide_10k(ctx: Ctx) -> dict:
    return _redecide(ctx, 0.0)


def redecide_10k_half(ctx: Ctx) -> dict:
    return _redecide(ctx, 0.5)


redecide_10k.setup = redecide_10k_half.setup = _redecide_setup

def connect_rate(ctx: Ctx) -> dict:
    """Issue 20: CONNECT tunnels per second through an explicit proxy over plain TCP
    (bench/lib/connect_client.c, 32 at a time, one epoll thread): `CONNECT 203.0.113.10:80`, wait
    for the 200, `GET /` through the tunnel, read `ok 203.0.113.10:80` to the end, close. Any
    refused, stalled or wrong answer fails the run."""
    argv = [str(ctx.tools / "connect_client"), f"{GW_CLIENT_V4}:{CONNECT_PORT}", f"{UPSTREAM_A}:80",
            str(ctx.duration), "32"]
    return connection_rate(ctx, argv, "connect_client", "tunnels")


def agent_rate(ctx: Ctx) -> dict:
    """Issue 20: connections per second from a client that knows nothing of any proxy, through the
    egressd agent (transparent) and its mTLS tunnel (resumed) to the egressd gateway: wrk with
    `Connection: close` (one TCP connection per request, as conn_close_plain) to 203.0.113.20:8443,
    which only the payments identity (the agent's certificate) may reach. Its CPU per connection
    (agent + gateway) is compared with conn_rate_mtls's (one mTLS connection through the gateway)."""
    r = _wrk(ctx, close=True, url=f"http://{UPSTREAM_B}:8443/")
    r["metrics"]["conn_per_s"] = r["metrics"].pop("req_per_s")
    return r


def tunnel_bulk(ctx: Ctx) -> dict:
    """Issue 20: throughput_mtls's bytes (`dd | socat`, to the sink on 203.0.113.20:8444) sent in
    plain TCP by the client; the agent carries them in its mTLS tunnel to the gateway, which sends
    them on to the sink. Against throughput_mtls, where the client speaks mTLS to the gateway."""
    mib = ctx.mtls_bytes // (1 << 20)
    cmd = f"dd if=/dev/zero bs=1M count={mib} status=none | socat -b 262144 -u STDIN TCP:{UPSTREAM_B}:8444"
    t0 = time.monotonic()
    p = ctx.client(["sh", "-c", cmd], timeout=300)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"socat failed ({p.returncode}): {p.stderr[-500:]}")
    nbytes = mib << 20
    return {"ops": nbytes / GIB, "metrics": {"gbit_per_s": nbytes * 8 / wall / 1e9}}


# name -> (function, the subject's listener it needs: plain | mtls | sni | redecide | connect | agent, applies to direct)
WORKLOADS = {
    "conn_rate_mtls": (conn_rate_mtls, "mtls", True),
    "conn_rate_mtls_resumed": (conn_rate_mtls_resumed, "mtls", True),
    "throughput_plain": (throughput_plain, "plain", True),
    "throughput_mtls": (throughput_mtls, "mtls", True),
    "rps_plain": (rps_plain, "plain", True),
    "conn_close_plain": (conn_close_plain, "plain", True),
    "idle_memory_plain": (idle_memory_plain, "plain", False),
    "idle_memory_mtls": (idle_memory_mtls, "mtls", False),
    "conn_rate_sni": (conn_rate_sni, "sni", True),
    "redecide_10k": (redecide_10k, "redecides", False),
    "redecide_10k_half": (redecide_10k_half, "redecides", False),
    "connect_rate": (connect_rate, "connect", False),
    "agent_rate": (agent_rate, "agent", False),
    "tunnel_bulk": (tunnel_bulk, "agent", False),
}
# Issue 21's redecide workloads are run when named (--workloads): they hold 10,000 connections in
# egressd alone (no other subject re-decides live connections).
DEFAULT_WORKLOADS = [w for w in WORKLOADS if not w.startswith("redecide")]
