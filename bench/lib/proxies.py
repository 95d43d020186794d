"""The things measured in the gateway namespace, one at a time: egressd, HAProxy, Squid, direct.

Each proxy is started fresh for every run of every workload, so its CPU time and RSS belong to that
run alone. cpu_ticks() is utime+stime of the proxy process (all threads) from /proc/PID/stat.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from netns import ALLOWED_NAME, DNS_SERVER, MTLS_PORT, PLAIN_PORT, SNI_PORT, Sandbox

BENCH_DIR = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_schedstat(pid: int) -> dict[int, tuple[int, int]]:
    """Per thread of pid: (ns on a CPU, ns runnable but waiting for one), /proc/PID/task/TID/schedstat."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run, wait = f.read().split()[:2]
        except (OSError, ValueError):
            continue  # a thread that just ended
        out[int(tid)] = (int(run), int(wait))
    return out


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def _listening(sb: Sandbox, ports: list[int]) -> bool:
    out = sb.run(sb.gateway, ["ss", "-Hltn"], timeout=5).stdout
    return all(f":{p} " in out for p in ports)


class Proxy:
    name = "?"
    mtls = True  # whether it serves the mTLS workloads (direct: its own TLS endpoints)
    plain = True  # whether it serves the plain workloads
    sni = True  # whether it serves conn_rate_sni (TLS passed through, port 443)
    decides_on_name = True  # whether it refuses a name it does not allow (conn_rate_sni's checks)
    redecides = False  # whether it re-decides live connections on a policy reload (redecide workloads)
    proc: subprocess.Popen | None = None
    log: Path | None = None

    def log_tail(self, n: int = 1500) -> str:
        """The end of the proxy's own output, for failure messages."""
        return self.log.read_text(errors="replace")[-n:] if self.log and self.log.exists() else ""

    def start(self, sb: Sandbox, workdir: Path) -> None:
        raise NotImplementedError

    def _wait_ready(self, sb: Sandbox, ports: list[int], log: Path) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): {log.read_text()[-2000:]}")
            if _listening(sb, ports):
                return
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not listen on {ports}: {log.read_text()[-2000:]}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None


class Direct(Proxy):
    """No redirect and no proxy: the client talks to the upstream (for mTLS workloads, to an
    OpenSSL/socat TLS endpoint in the internet namespace). The physical limit of this machine."""

    name = "direct"

    def start(self, sb: Sandbox, workdir: Path) -> None:
        self.proc = None


class HAProxy(Proxy):
    """HAProxy doing egressd's job (bench/haproxy/). The subject haproxy-log also logs each
    connection (option tcplog) to a file in log_dir, the tmpfs of egressd's audit log."""

    NAMES = ("haproxy", "haproxy-log")

    def __init__(self, certs: dict[str, str], threads: int, client_cn: str, name: str = "haproxy",
                 log_dir: Path | None = None):
        self.certs, self.threads, self.client_cn = certs, threads, client_cn
        self.name, self.log_dir = name, log_dir
        self.logging = name == "haproxy-log"

    def env(self) -> dict[str, str]:
        env = dict(os.environ, BENCH_CERTS=self.certs["dir"], BENCH_THREADS=str(self.threads),
                   BENCH_CLIENT_CN=self.client_cn)
        if self.logging:
            env["BENCH_LOG"] = "1"
        return env

    def argv(self) -> list[str]:
        d = BENCH_DIR / "haproxy"
        return ["haproxy", "-db", "-f", str(d / "global.cfg"), "-f", str(d / "plain.cfg"), "-f", str(d / "mtls.cfg"),
                "-f", str(d / "sni.cfg")]

    def check(self) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv()[:1] + ["-c", "-q"] + self.argv()[2:], env=self.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def connections_logged(self, at_least: int, timeout: float = 2.0) -> int:
        """Lines in the connection log, waiting up to `timeout` for `at_least` of them."""
        path = self.log_dir / "haproxy-connections.log"
        deadline = time.monotonic() + timeout
        while True:
            n = len(path.read_text().splitlines()) if path.exists() else 0
            if n >= at_least or time.monotonic() > deadline:
                return n
            time.sleep(0.05)

    def start(self, sb: Sandbox, workdir: Path) -> None:
        log = self.log = workdir / "haproxy.log"
        if self.logging:  # the connection log on stdout, HAProxy's own messages on stderr
            assert self.log_dir is not None
            self.log_dir.mkdir(parents=True, exist_ok=True)
            stdout, stderr = open(self.log_dir / "haproxy-connections.log", "w"), open(log, "w")
        else:
            stdout, stderr = open(log, "w"), subprocess.STDOUT
        self.proc = sb.spawn(sb.gateway, self.argv(), stdout=stdout, stderr=stderr, env=self.env())
        self._wait_ready(sb, [PLAIN_PORT, MTLS_PORT, SNI_PORT], log)


# The hook for issue 19's name step: the subject that runs egressd with a hostname rule
# (bench/policy-hosts/: the destination of conn_rate_sni as `hosts: [allowed.bench.example]`, plus
# `dns:` pointing at the bench's dnsmasq). Until egressd accepts that config (--check-config), the
# subject is reported "pending: name step not built"; once it does, it runs with no change here.
HOSTNAME_RULE_SUBJECT = "egressd-hosts"
NAME_STEP_PENDING = "pending: name step not built"


class Egressd(Proxy):
    name = "egressd"

    # subject name -> (audit.path on the tmpfs or /dev/null, audit.write_ahead)
    VARIANTS = {"egressd": (True, True), "egressd-nowal": (True, False), "egressd-devnull": (False, True),
                HOSTNAME_RULE_SUBJECT: (True, True)}

    def __init__(self, binary: Path, certs: dict[str, str], threads: int, mtls: bool, audit_dir: Path,
                 name: str = "egressd"):
        self.binary, self.certs, self.threads, self.mtls = binary, certs, threads, mtls
        self.audit_dir, self.name = audit_dir, name
        self.audit, self.write_ahead = self.VARIANTS[name]
        # egressd with the CIDR-only rule passes any name to the admitted address; the hostname
        # variant serves conn_rate_sni only (the other workloads would repeat egressd's).
        self.hostname_rule = name == HOSTNAME_RULE_SUBJECT
        self.decides_on_name = self.hostname_rule
        self.redecides = not self.hostname_rule
        if self.hostname_rule:
            self.plain = self.mtls = False
        # The redecide workloads run egressd on a writable copy of their own policy, with room for
        # their held connections (workloads._redecide_setup sets both, and puts them back after).
        self.policy_override: Path | None = None
        self.max_connections = 9500

    def decision_reasons(self, timeout: float = 2.0, want: str = "") -> list[str]:
        """The `reason` of every connection.decision record in the audit file (waiting up to
        `timeout` for one with reason `want`)."""
        path = self.audit_dir / "audit.jsonl"
        deadline = time.monotonic() + timeout
        while True:
            reasons = []
            for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("event") == "connection.decision":
                    reasons.append(rec.get("reason", ""))
            if want in reasons or not want or time.monotonic() > deadline:
                return reasons
            time.sleep(0.05)

    def policy_dir(self) -> Path:
        return BENCH_DIR / ("policy-hosts" if self.hostname_rule else "policy")

    def config_text(self) -> str:
        audit_path = str(self.audit_dir / "audit.jsonl") if self.audit else "/dev/null"
        lines = [
            f"workers: {self.threads}",
            "listeners:",
            "  - name: plain",
            f'    address: "0.0.0.0:{PLAIN_PORT}"',
            "    destination: original_dst",
            "  - name: sni",
            f'    address: "0.0.0.0:{SNI_PORT}"',
            "    destination: original_dst",
        ]
        if self.hostname_rule:
            lines += ["    peek: {timeout: 1s, max_bytes: 16KiB}"]
        if self.mtls:
            lines += [
                "  - name: mtls",
                f'    address: "0.0.0.0:{MTLS_PORT}"',
                "    destination: original_dst",
                "    tls:",
                "      mode: required",
                f"      cert: {self.certs['gateway_cert']}",
                f"      key: {self.certs['gateway_key']}",
                f"      client_ca: {self.certs['ca']}",
            ]
        lines += [
            "upstream:",
            "  connect_timeout: 5s",
            "  idle_timeout: 1h",
            "policy:",
            f"  dir: {self.policy_override or self.policy_dir()}",
            "audit:",
            f"  path: {audit_path}",
            f"  write_ahead: {'true' if self.write_ahead else 'false'}",
            "limits:",
            f"  max_connections: {self.max_connections}",
            "drain_timeout: 1s",
        ]
        if self.hostname_rule:
            lines += ["dns:", f'  servers: ["{DNS_SERVER}:53"]', "  min_ttl: 60s", "  timeout: 2s"]
        return "\n".join(lines) + "\n"

    def write_config(self, workdir: Path) -> Path:
        cfg = workdir / "egressd.yaml"
        cfg.write_text(self.config_text())
        return cfg

    def check(self, workdir: Path) -> subprocess.CompletedProcess:
        cfg = self.write_config(workdir)
        return subprocess.run([str(self.binary), "--check-config", "--config", str(cfg)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def start(self, sb: Sandbox, workdir: Path) -> None:
        cfg = self.write_config(workdir)
        log = self.log = workdir / "egressd.log"
        self.audit_dir.mkdir(parents=True, exist_ok=True)
        audit_file = self.audit_dir / "audit.jsonl"
        if audit_file.exists():
            audit_file.unlink()  # one run's audit at a time on the tmpfs
        self.proc = sb.spawn(sb.gateway, [str(self.binary), "--config", str(cfg)], stdout=open(log, "w"),
                             stderr=subprocess.STDOUT)
        self._wait_ready(sb, [PLAIN_PORT, SNI_PORT] + ([MTLS_PORT] if self.mtls else []), log)


class Squid(Proxy):
    """Squid intercepting TLS on port 15003 (bench/squid/squid.conf.in): ssl_bump peek + splice on
    ssl::server_name, host_verify_strict on. Serves conn_rate_sni only. `squid -N`: one process,
    whose CPU is measured (the certificate generator helpers stay idle: it never bumps)."""

    name = "squid"
    mtls = plain = False

    def __init__(self):
        # Squid drops to the `proxy` user: its files live in a directory of their own that
        # `proxy` can reach (the harness's temporary directory is 0700 root).
        self.dir = Path(tempfile.mkdtemp(prefix="egress-bench-squid-"))
        self.dir.chmod(0o755)
        d = self.dir
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "30", "-subj", "/CN=egressd bench squid CA", "-keyout", str(d / "squid-ca.key"),
                        "-out", str(d / "squid-ca.pem")], check=True, capture_output=True)
        subprocess.run(["/usr/lib/squid/security_file_certgen", "-c", "-s", str(d / "ssl_db"), "-M", "4MB"],
                       check=True, capture_output=True)
        conf = (BENCH_DIR / "squid" / "squid.conf.in").read_text().replace("@DIR@", str(d)).replace(
            "@DNS@", DNS_SERVER).replace("@ALLOWED_NAME@", ALLOWED_NAME)
        (d / "squid.conf").write_text(conf)
        subprocess.run(["chown", "-R", "proxy:proxy", str(d)], check=True)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def argv(self) -> list[str]:
        return ["squid", "-N", "-f", str(self.dir / "squid.conf")]

    def check(self) -> subprocess.CompletedProcess:
        return subprocess.run(["squid", "-k", "parse", "-f", str(self.dir / "squid.conf")], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)

    def log_tail(self, n: int = 1500) -> str:
        own = super().log_tail(n)
        cache_log = self.dir / "cache.log"
        return own + (cache_log.read_text(errors="replace")[-n:] if cache_log.exists() else "")

    def forgery_logged(self, timeout: float = 2.0) -> bool:
        """Whether host_verify_strict refused a connection (cache.log's SECURITY ALERT)."""
        deadline = time.monotonic() + timeout
        while True:
            path = self.dir / "cache.log"
            if path.exists() and "Host header forgery detected" in path.read_text(errors="replace"):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def start(self, sb: Sandbox, workdir: Path) -> None:
        log = self.log = workdir / "squid.log"
        self.proc = sb.spawn(sb.gateway, self.argv(), stdout=open(log, "w"), stderr=subprocess.STDOUT)
        self._wait_ready(sb, [SNI_PORT], log)
