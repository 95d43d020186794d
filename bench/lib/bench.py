"""bench/run.sh's engine: egressd, HAProxy and the direct path, side by side (issue 7).

For each proxy (one at a time, each in a fresh sandbox), for each workload, N runs; every run starts
the proxy afresh and records the client's figures, the proxy's CPU seconds (utime+stime from
/proc/PID/stat) and, for idle_memory, its RSS growth. Results: median of the runs, written to
bench/results/latest.json and latest.md (see report.py).
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import netns  # noqa: E402
import report  # noqa: E402
from netns import DENIED, UPSTREAM_A, UPSTREAM_B, DIRECT_TLS, Sandbox  # noqa: E402
from proxies import Direct, Egressd, HAProxy, cpu_seconds, rss_kib  # noqa: E402
from workloads import WORKLOADS, Ctx  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO = BENCH_DIR.parent


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ certificates

def _client_cn(cert: str) -> str:
    out = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-subject", "-nameopt", "multiline"],
                         capture_output=True, text=True).stdout
    return next((line.split("=", 1)[1].strip() for line in out.splitlines() if "commonName" in line), "")


def resolve_certs(tmp: Path) -> dict[str, str]:
    """The project's dev PKI (certs/make-dev-certs.sh: ECDSA P-256, root + intermediate) so that
    egressd and HAProxy verify the same chains: certs/out/ when it is there, else generated into a
    temporary directory. Without that script, throwaway certificates from bench/lib/make-certs.sh."""
    d = tmp / "certs"
    d.mkdir(parents=True, exist_ok=True)
    names = {"ca": "ca.pem", "gateway_cert": "gateway.pem", "gateway_key": "gateway.key",
             "client_cert": "payments.pem", "client_key": "payments.key",
             "denied_cert": "analytics.pem", "denied_key": "analytics.key"}
    src = REPO / "certs" / "out"
    script = REPO / "certs" / "make-dev-certs.sh"
    if not all((src / n).exists() for n in names.values()) and script.exists():
        src = tmp / "dev-certs"
        subprocess.run([str(script), str(src)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if all((src / n).exists() for n in names.values()):
        found = {k: str(src / n) for k, n in names.items()}
        source = f"{script.relative_to(REPO)} ({src})"
    else:
        subprocess.run([str(BENCH_DIR / "lib" / "make-certs.sh"), str(d)], check=True)
        found = {k: str(d / n) for k, n in names.items()}
        source = "bench/lib/make-certs.sh (throwaway)"
    # HAProxy wants the certificate chain and key in one file, and the CA bundle beside it.
    bundle = d / "gateway-bundle.pem"
    bundle.write_text(Path(found["gateway_cert"]).read_text() + Path(found["gateway_key"]).read_text())
    bundle.chmod(0o600)
    if Path(found["ca"]) != d / "ca.pem":
        shutil.copy(found["ca"], d / "ca.pem")
    return dict(found, dir=str(d), source=source, client_cn=_client_cn(found["client_cert"]))


# ------------------------------------------------------------------ upstreams

def start_upstreams(sb: Sandbox, tools: Path, certs: dict, work: Path, direct: bool) -> None:
    up = str(tools / "upstream")
    http = [f"{UPSTREAM_A}:80", f"{UPSTREAM_B}:80", f"{UPSTREAM_B}:8443", f"{DENIED}:80"]
    sb.spawn(sb.internet, [up, "http", *http], stdout=open(work / "http.out", "w"))
    sb.spawn(sb.internet, [up, "sink", f"{UPSTREAM_A}:9000", f"{UPSTREAM_B}:8444"], stdout=open(work / "sink.out", "w"))
    sb.spawn(sb.internet, ["iperf3", "-s", "-B", UPSTREAM_A, "-p", "5201"])
    ports = [f"{UPSTREAM_A}:80", f"{UPSTREAM_B}:8443", f"{UPSTREAM_A}:9000", f"{UPSTREAM_B}:8444", f"{UPSTREAM_A}:5201"]
    if direct:
        www = work / "www"
        www.mkdir(exist_ok=True)
        (www / "ok").write_text(f"ok {DIRECT_TLS}:8443\n")
        sb.spawn(sb.internet, ["openssl", "s_server", "-accept", f"{DIRECT_TLS}:8443", "-cert", certs["gateway_cert"],
                               "-key", certs["gateway_key"], "-CAfile", certs["ca"], "-Verify", "1", "-WWW",
                               "-quiet"], cwd=str(www))
        sb.spawn(sb.internet, ["socat", "-u", f"OPENSSL-LISTEN:8444,bind={DIRECT_TLS},reuseaddr,fork,"
                               f"cert={certs['gateway_cert']},key={certs['gateway_key']},cafile={certs['ca']},verify=1",
                               "OPEN:/dev/null,wronly"])
        ports += [f"{DIRECT_TLS}:8443", f"{DIRECT_TLS}:8444"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = sb.run(sb.internet, ["ss", "-Hltn"], timeout=5).stdout
        if all(f"{p} " in out for p in ports):
            return
        time.sleep(0.05)
    raise RuntimeError(f"upstream servers did not come up: {out}")


# ------------------------------------------------------------------ checks

def curl(sb: Sandbox, url: str, *extra: str) -> str:
    p = sb.run(sb.client, ["curl", "-s", "-m", "3", *extra, url], timeout=10)
    return p.stdout.strip() if p.returncode == 0 else f"<curl exit {p.returncode}>"


def check_paths(sb: Sandbox, proxy, certs: dict) -> dict:
    """That the proxy forwards to the original destination (two upstreams, each answering with its
    own address), that its ACL refuses a destination no rule admits, and (mTLS) that it admits the
    allowed identity and refuses another. Raises when any fails: figures from a proxy that does not
    do the job are worthless."""
    checks = {}

    def expect(name: str, got: str, want: str | None) -> None:
        ok = (got == want) if want is not None else not got.startswith("ok")
        checks[name] = {"ok": ok, "got": got, "want": want if want is not None else "refused"}

    expect("original_dst_a", curl(sb, f"http://{UPSTREAM_A}/"), f"ok {UPSTREAM_A}:80")
    expect("original_dst_b", curl(sb, f"http://{UPSTREAM_B}/"), f"ok {UPSTREAM_B}:80")
    if proxy.name != "direct":
        expect("acl_denied_destination", curl(sb, f"http://{DENIED}/"), None)
        if proxy.mtls:
            tls = ["-k", "--cacert", certs["ca"]]
            expect("mtls_allowed_identity",
                   curl(sb, f"https://{UPSTREAM_B}:8443/", *tls, "--cert", certs["client_cert"], "--key",
                        certs["client_key"]), f"ok {UPSTREAM_B}:8443")
            expect("mtls_no_client_cert", curl(sb, f"https://{UPSTREAM_B}:8443/", *tls), None)
            if certs.get("denied_cert"):
                expect("mtls_denied_identity",
                       curl(sb, f"https://{UPSTREAM_B}:8443/", *tls, "--cert", certs["denied_cert"], "--key",
                            certs["denied_key"]), None)
    bad = {k: v for k, v in checks.items() if not v["ok"]}
    if bad:
        died = proxy.proc is not None and proxy.proc.poll() is not None
        raise RuntimeError(f"{proxy.name} failed its path checks: {json.dumps(bad)}"
                           + (f"; it exited ({proxy.proc.returncode})" if died else "")
                           + f"; its log ends: {proxy.log_tail()}")
    return checks


# ------------------------------------------------------------------ runs

def wait_rss_stable(pid: int, timeout: float = 8.0) -> int:
    last, since = rss_kib(pid), time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = rss_kib(pid)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= 0.5:
            break
    return last


def perf_report(data: Path, out: Path) -> None:
    """A flat profile (top symbols by self time, then by shared object) for the lead's report."""
    rep = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "dso,sym", "-g", "none",
                          "--percent-limit", "0.5", "--stdio"], capture_output=True, text=True).stdout
    dso = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "dso", "-g", "none",
                          "--stdio"], capture_output=True, text=True).stdout
    keep = lambda t: "\n".join(line for line in t.splitlines() if line.strip() and not line.startswith("#"))
    out.write_text(f"# by shared object\n{keep(dso)}\n\n# by symbol (>= 0.5 %)\n{keep(rep)}\n")


def syscall_summary(trace: Path, ops: float) -> str:
    """Sums `perf trace -s` per-thread tables into calls and errors (EAGAIN...) per operation."""
    calls: dict[str, list[int]] = {}
    for line in trace.read_text().splitlines():
        f = line.split()
        if len(f) >= 3 and f[1].isdigit() and f[2].isdigit() and not line.startswith(" -"):
            c = calls.setdefault(f[0], [0, 0])
            c[0] += int(f[1])
            c[1] += int(f[2])
    rows = sorted(calls.items(), key=lambda kv: -kv[1][0])
    total = sum(c for c, _ in calls.values())
    out = [f"# syscalls per operation ({ops:.4g} ops): total {total / ops:.2f}",
           f"{'syscall':<20} {'calls/op':>10} {'errors/op':>10}"]
    out += [f"{name:<20} {c / ops:>10.3f} {e / ops:>10.3f}" for name, (c, e) in rows]
    return "\n".join(out) + "\n\n"


def one_run(ctx: Ctx, fn, perf_out: Path | None = None, trace_out: Path | None = None) -> dict:
    proxy = ctx.proxy
    proxy.start(ctx.sb, ctx.workdir)
    pid = proxy.pid
    perf = None
    try:
        rss0 = rss_kib(pid) if pid else None
        cpu0 = cpu_seconds(pid) if pid else None
        if perf_out and pid:
            data = ctx.workdir / "perf.data"
            stat_out = ctx.workdir / "perf-stat.csv"
            perf = [subprocess.Popen(["perf", "record", "-q", "-F", "1999", "-o", str(data), "-p", str(pid)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                    subprocess.Popen(["perf", "stat", "-x", ",", "-o", str(stat_out), "-e",
                                      "raw_syscalls:sys_enter,context-switches", "-p", str(pid)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
            time.sleep(0.3)
        tracer = None
        if trace_out and pid:
            raw = ctx.workdir / "perf-trace.txt"
            tracer = subprocess.Popen(["perf", "trace", "-s", "-o", str(raw), "-p", str(pid)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            perf = (perf or []) + [tracer]
            time.sleep(0.5)
        try:
            r = fn(ctx)
        except Exception as e:
            if proxy.proc is not None and proxy.proc.poll() is not None:
                raise RuntimeError(f"{e}; {proxy.name} exited ({proxy.proc.returncode}), its log ends: "
                                   f"{proxy.log_tail()}") from e
            raise
        for p in perf or []:
            p.send_signal(signal.SIGINT)
            p.wait(timeout=30)
        perf = None
        if tracer:
            trace_out.write_text(syscall_summary(raw, r["ops"]) + raw.read_text())
        if perf_out:
            counts = {}
            for line in stat_out.read_text().splitlines():
                f = line.split(",")
                if len(f) > 2 and f[0].strip().isdigit():
                    counts[f[2]] = int(f[0])
            per_op = {k: v / r["ops"] for k, v in counts.items() if r["ops"]}
            r["metrics"].update({f"{k.split(':')[-1]}_per_op": v for k, v in per_op.items()})
            perf_report(data, perf_out)
            with open(perf_out, "a") as f:
                f.write("\n# per operation (perf stat)\n" + "".join(f"{k}: {v:.2f}\n" for k, v in per_op.items()))
        holder = r.pop("_holder", None)
        if holder is not None:
            try:
                if pid:
                    rss1 = wait_rss_stable(pid)
                    r["metrics"]["rss_before_kib"] = rss0
                    r["metrics"]["rss_held_kib"] = rss1
                    r["metrics"]["kib_per_conn"] = (rss1 - rss0) / max(r["ops"], 1)
            finally:
                holder.stdin.close()
                holder.wait(timeout=30)
        if pid:
            if proxy.proc.poll() is not None:
                raise RuntimeError(f"{proxy.name} died during the run (exit {proxy.proc.returncode}); "
                                   f"its log ends: {proxy.log_tail()}")
            r["proxy_cpu_s"] = cpu_seconds(pid) - cpu0
        return r
    finally:
        for p in perf or []:
            if p.poll() is None:
                p.kill()
        proxy.stop()


def run_proxy(proxy, workloads: list[str], runs: int, tools: Path, certs: dict, args, tmp: Path) -> dict:
    work = tmp / proxy.name
    work.mkdir(parents=True, exist_ok=True)
    res: dict = {"workloads": {}}
    with Sandbox(redirect=proxy.name != "direct") as sb:
        start_upstreams(sb, tools, certs, work, direct=proxy.name == "direct")
        if proxy.name != "direct":
            proxy.start(sb, work)
        try:
            res["checks"] = check_paths(sb, proxy, certs)
        finally:
            proxy.stop()
        log(f"{proxy.name}: path checks passed ({', '.join(res['checks'])})")
        ctx = Ctx(sb=sb, proxy=proxy, certs=certs, quick=args.quick, duration=args.duration, workdir=work,
                  idle_conns=args.idle_conns, mtls_bytes=args.mtls_mib << 20)
        for name in workloads:
            fn, needs_tls, for_direct = WORKLOADS[name]
            if needs_tls and not proxy.mtls:
                res["workloads"][name] = {"skipped": f"{proxy.name} has no mTLS listener yet"}
                continue
            if proxy.name == "direct" and not for_direct:
                res["workloads"][name] = {"skipped": "no proxy process to measure"}
                continue
            samples = []
            for i in range(runs):
                t0 = time.monotonic()
                try:
                    perf_out = (args.perf / f"{proxy.name}-{name}.txt") if args.perf and i == 0 else None
                    trace_out = (args.syscalls / f"{proxy.name}-{name}.txt") if args.syscalls and i == 0 else None
                    samples.append(one_run(ctx, fn, perf_out, trace_out))
                except Exception as e:  # noqa: BLE001 - a failed workload is recorded, the rest still run
                    log(f"{proxy.name} {name} run {i + 1}: FAILED: {e}")
                    samples.append({"error": str(e)[:2000]})
                    break
                log(f"{proxy.name} {name} run {i + 1}/{runs}: {report.brief(samples[-1])} "
                    f"({time.monotonic() - t0:.1f}s)")
            res["workloads"][name] = report.summarise(samples)
    return res


def microbenchmarks(builds: list[Path], quick: bool) -> dict:
    out = {}
    exes = {}
    for build in builds:  # the first build directory that has a given benchmark wins
        for exe in sorted((build / "bench").glob("*_bench")) if (build / "bench").is_dir() else []:
            exes.setdefault(exe.name, exe)
    for exe in exes.values():
        if not os.access(exe, os.X_OK):
            continue
        log(f"microbenchmark {exe.name}")
        p = subprocess.run([str(exe), "--benchmark_format=json", f"--benchmark_min_time={0.05 if quick else 0.2}"],
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            out[exe.name] = {"error": p.stderr[-1000:]}
            continue
        data = json.loads(p.stdout)
        out[exe.name] = [{"name": b["name"], "real_time": b["real_time"], "cpu_time": b["cpu_time"],
                          "time_unit": b.get("time_unit", "ns")}
                         for b in data.get("benchmarks", []) if b.get("run_type", "iteration") == "iteration"]
    return out


def machine() -> dict:
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def ver(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return None

    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30), 1),
            "haproxy": ver(["haproxy", "-v"]), "openssl": ver(["openssl", "version"]),
            "loadavg_at_start": open("/proc/loadavg").read().split()[:3]}


def find_egressd(build: Path) -> Path | None:
    env = os.environ.get("EGRESSD")
    for c in ([Path(env)] if env else []) + [build / "egressd"]:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    return None


def egressd_has_mtls(binary: Path, certs: dict, tmp: Path, threads: int) -> bool:
    """Whether this egressd build accepts a `tls:` listener (issue 4): --check-config decides."""
    probe = Egressd(binary, certs, threads, True, tmp / "audit-probe")
    d = tmp / "probe"
    d.mkdir(exist_ok=True)
    return probe.check(d).returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(prog="bench/run.sh")
    ap.add_argument("--build", type=Path, required=True)
    ap.add_argument("--tools", type=Path, required=True)
    ap.add_argument("--quick", action="store_true", help="one short run of each workload (smoke test)")
    ap.add_argument("--check", action="store_true", help="validate configs and harness, run nothing")
    ap.add_argument("--proxies", default="egressd,haproxy,direct",
                    help="comma list of egressd, haproxy, direct; also egressd-nowal (audit.write_ahead: false) "
                    "and egressd-devnull (audit.path: /dev/null)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--runs", type=int)
    ap.add_argument("--threads", type=int, default=2, help="egressd workers = HAProxy nbthread")
    ap.add_argument("--no-micro", action="store_true")
    ap.add_argument("--micro-from", type=Path, action="append", default=[],
                    help="another build directory whose bench/*_bench to run (repeatable)")
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    ap.add_argument("--perf", type=Path, help="perf-record the proxy in each workload's first run; flat "
                    "profiles go to PERF/<proxy>-<workload>.txt (the figures of that run include perf's cost)")
    ap.add_argument("--syscalls", type=Path, help="`perf trace -s` the proxy in each workload's first run: "
                    "syscalls and errors per operation go to SYSCALLS/<proxy>-<workload>.txt (slows that run)")
    args = ap.parse_args()
    for d in (args.perf, args.syscalls):
        if d:
            d.mkdir(parents=True, exist_ok=True)
    args.runs = args.runs or (1 if args.quick else 3)
    args.duration = 2.0 if args.quick else 4.0
    args.idle_conns = 500 if args.quick else 5000
    args.mtls_mib = 256 if args.quick else 2048
    workloads = [w for w in args.workloads.split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r} (known: {', '.join(WORKLOADS)})")

    tmp = Path(tempfile.mkdtemp(prefix="egress-bench-"))
    audit_dir = Path(tempfile.mkdtemp(prefix="egress-bench-audit-", dir="/dev/shm"))

    def cleanup(*_):
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(audit_dir, ignore_errors=True)
        netns.sweep_stale()

    atexit.register(cleanup)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))  # unwinds the `with Sandbox` blocks

    certs = resolve_certs(tmp)
    egressd_bin = find_egressd(args.build)
    egressd_src = egressd_bin
    if egressd_bin and not args.check:
        # A private copy: other engineers may relink BUILD/egressd while the benchmark runs.
        snap = tmp / "bin" / "egressd"
        snap.parent.mkdir()
        shutil.copy2(egressd_bin, snap)
        egressd_bin = snap

    if args.check:
        ok = True
        hp = HAProxy(certs, args.threads, certs["client_cn"]).check()
        print(f"haproxy -c: {'ok' if hp.returncode == 0 else 'FAILED'} {hp.stdout.strip()}")
        ok &= hp.returncode == 0
        ctl = args.build / "egressctl"
        for sub in ("check", "test") if ctl.exists() else ():
            r = subprocess.run([str(ctl), "policy", sub, str(BENCH_DIR / "policy")], capture_output=True, text=True)
            print(f"egressctl policy {sub} bench/policy: {'ok' if r.returncode == 0 else 'FAILED'} "
                  f"{(r.stdout + r.stderr).strip()[-300:]}")
            # An egressctl from before the policy commands cannot judge; only a real verdict counts.
            if "subcommand" not in r.stdout + r.stderr:
                ok &= r.returncode == 0
        if egressd_bin:
            for mtls in (False, True):
                e = Egressd(egressd_bin, certs, args.threads, mtls, audit_dir)
                d = tmp / f"check-{mtls}"
                d.mkdir()
                r = e.check(d)
                label = "mTLS + plain" if mtls else "plain"
                print(f"egressd --check-config ({label}): {'ok' if r.returncode == 0 else 'FAILED'} "
                      f"{r.stdout.strip()[-500:]}")
                if not mtls:
                    ok &= r.returncode == 0
        else:
            print(f"egressd: not built in {args.build} (skipped)")
        return 0 if ok else 1

    netns.sweep_stale()
    t_start = time.monotonic()
    proxies = []
    for name in args.proxies.split(","):
        if name == "direct":
            proxies.append(Direct())
        elif name == "haproxy":
            proxies.append(HAProxy(certs, args.threads, certs["client_cn"]))
        elif name in Egressd.VARIANTS:
            if not egressd_bin:
                log(f"egressd not found in {args.build}: its rows stay pending")
                continue
            mtls = egressd_has_mtls(egressd_bin, certs, tmp, args.threads)
            if not mtls:
                log("egressd rejects a tls: listener (mTLS not built yet): mTLS workloads skipped for egressd")
            proxies.append(Egressd(egressd_bin, certs, args.threads, mtls, audit_dir, name))
        else:
            ap.error(f"unknown proxy {name!r}")

    results = {
        "schema": 1,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip(),
        "quick": args.quick, "runs": args.runs, "duration_s": args.duration, "threads": args.threads,
        "idle_conns": args.idle_conns, "mtls_bytes": args.mtls_mib << 20,
        "egressd": {"binary": str(egressd_src) if egressd_src else None,
                    "binary_mtime": (datetime.datetime.fromtimestamp(egressd_src.stat().st_mtime, datetime.timezone.utc)
                                     .strftime("%Y-%m-%dT%H:%M:%SZ") if egressd_src else None),
                    "audit": f"write-ahead, file on tmpfs ({audit_dir})"},
        "certs": certs["source"], "machine": machine(), "proxies": {},
    }
    if not args.no_micro:
        results["microbenchmarks"] = microbenchmarks([args.build] + args.micro_from, args.quick)
    for proxy in proxies:
        log(f"=== {proxy.name}")
        try:
            results["proxies"][proxy.name] = run_proxy(proxy, workloads, args.runs, args.tools, certs, args, tmp)
        except Exception as e:  # noqa: BLE001 - one proxy failing its checks must not hide the others
            log(f"{proxy.name}: FAILED: {e}")
            results["proxies"][proxy.name] = {"error": str(e)[:4000]}
    results["elapsed_s"] = round(time.monotonic() - t_start, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    md = report.markdown(results)
    (args.out / "latest.md").write_text(md)
    print(md)
    log(f"wrote {args.out / 'latest.json'} and latest.md in {results['elapsed_s']}s")
    return 0 if all("error" not in v for v in results["proxies"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
