"""The things measured in the gateway namespace, one at a time: egressd, HAProxy, Squid, direct.

Each proxy is started fresh for every run of every workload, so its CPU time and RSS belong to that
run alone. cpu_seconds() is utime+stime of the proxy process (all threads) from /proc/PID/stat; a
subject of two processes (egressd-agent: the agent and the gateway) is measured as their sum.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from netns import (ALLOWED_NAME, CONNECT_MTLS_PORT, CONNECT_PORT, DNS_SERVER, GW_CLIENT_V4, MTLS_PORT, PLAIN_PORT,
                   SNI_PORT, Sandbox)

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
    connect = False  # whether it is an explicit CONNECT proxy on CONNECT_PORT (connect_rate, issue 20)
    agent = False  # whether it is the egressd agent + gateway pair (agent_rate, tunnel_bulk, issue 20)
    redirect = True  # whether its sandbox redirects the client's connections (not for explicit proxies)
    proc: subprocess.Popen | None = None
    log: Path | None = None

    def log_tail(self, n: int = 1500) -> str:
        """The end of the proxy's own output, for failure messages."""
        return self.log.read_text(errors="replace")[-n:] if self.log and self.log.exists() else ""

    def start(self, sb: Sandbox, workdir: Path) -> None:
        raise NotImplementedError

    def _wait_ready(self, sb: Sandbox, ports: list[int], log: Path, proc: subprocess.Popen | None = None) -> None:
        proc = proc or self.proc
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({proc.returncode}): {log.read_text()[-2000:]}")
            if _listening(sb, ports):
                return
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not listen on {ports}: {log.read_text()[-2000:]}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def cpu_pids(self) -> dict[str, int]:
        """The processes whose CPU is the subject's, by a label (one: "proxy")."""
        return {"proxy": self.pid} if self.pid else {}

    def exited(self) -> str | None:
        """How a process of the subject ended, if one has; None while all run."""
        if self.proc is not None and self.proc.poll() is not None:
            return f"exit {self.proc.returncode}"
        return None

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
    redirect = False

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


def _audit_records(path: Path, event: str) -> list[dict]:
    """The records of one event in an audit file (a torn last line is skipped)."""
    out = []
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == event:
            out.append(rec)
    return out


# The hook for issue 19's name step: the subject that runs egressd with a hostname rule
# (bench/policy-hosts/: the destination of conn_rate_sni as `hosts: [allowed.bench.example]`, plus
# `dns:` pointing at the bench's dnsmasq). Until egressd accepts that config (--check-config), the
# subject is reported "pending: name step not built"; once it does, it runs with no change here.
HOSTNAME_RULE_SUBJECT = "egressd-hosts"
NAME_STEP_PENDING = "pending: name step not built"

# Issue 20's subjects: egressd as an explicit CONNECT proxy over plain TCP (against Squid's
# http_port), and the egressd agent tunnelling to an egressd gateway's CONNECT listener over mTLS.
# Each is reported pending until egressd accepts its config (--check-config), as egressd-hosts.
CONNECT_SUBJECT = "egressd-connect"
CONNECT_PENDING = "pending: CONNECT listener not built"
AGENT_SUBJECT = "egressd-agent"
AGENT_PENDING = "pending: agent not built"
SQUID_CONNECT_SUBJECT = "squid-connect"
AGENT_ADMIN_PORT = 9902


class Egressd(Proxy):
    name = "egressd"

    # subject name -> (audit.path on the tmpfs or /dev/null, audit.write_ahead)
    VARIANTS = {"egressd": (True, True), "egressd-nowal": (True, False), "egressd-devnull": (False, True),
                HOSTNAME_RULE_SUBJECT: (True, True), CONNECT_SUBJECT: (True, True)}

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
        # egressd-connect: one `destination: connect` listener on plain TCP, addressed directly.
        self.connect = name == CONNECT_SUBJECT
        if self.connect:
            self.plain = self.mtls = self.sni = self.redirect = self.redecides = False

    def decision_reasons(self, timeout: float = 2.0, want: str = "") -> list[str]:
        """The `reason` of every connection.decision record in the audit file (waiting up to
        `timeout` for one with reason `want`)."""
        deadline = time.monotonic() + timeout
        while True:
            reasons = [r.get("reason", "") for r in _audit_records(self.audit_dir / "audit.jsonl", "connection.decision")]
            if want in reasons or not want or time.monotonic() > deadline:
                return reasons
            time.sleep(0.05)

    def policy_dir(self) -> Path:
        return BENCH_DIR / ("policy-hosts" if self.hostname_rule else "policy")

    def config_text(self) -> str:
        audit_path = str(self.audit_dir / "audit.jsonl") if self.audit else "/dev/null"
        lines = [f"workers: {self.threads}", "listeners:"]
        if self.connect:
            lines += ["  - name: connect", f'    address: "0.0.0.0:{CONNECT_PORT}"', "    destination: connect"]
        else:
            lines += [
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
        ports = [CONNECT_PORT] if self.connect else [PLAIN_PORT, SNI_PORT] + ([MTLS_PORT] if self.mtls else [])
        self._wait_ready(sb, ports, log)


class EgressdAgent(Proxy):
    """Issue 20's agent + gateway, both egressd, both in the gateway namespace (two processes, whose
    CPU is summed). The agent takes the redirected connections on PLAIN_PORT and MTLS_PORT (ports
    8443-8450: plain TCP here, the workload's identity is the agent's certificate) and carries each
    one with `upstream.via` over mTLS (resumed) to the gateway's `destination: connect` listener on
    GW_CLIENT_V4:CONNECT_MTLS_PORT, which decides with bench/policy/ (the agent's certificate is the
    payments identity) and dials the upstream. The agent has no policy of its own: it forwards every
    connection, and audits it locally."""

    name = AGENT_SUBJECT
    plain = mtls = sni = False
    agent = True
    decides_on_name = False

    def __init__(self, binary: Path, certs: dict[str, str], threads: int, audit_dir: Path):
        self.binary, self.certs, self.threads, self.audit_dir = binary, certs, threads, audit_dir
        self.agent_proc: subprocess.Popen | None = None
        self.agent_log: Path | None = None

    def gateway_config_text(self) -> str:
        c = self.certs
        return "\n".join([
            f"workers: {self.threads}",
            "listeners:",
            "  - name: connect-mtls",
            f'    address: "0.0.0.0:{CONNECT_MTLS_PORT}"',
            "    destination: connect",
            "    tls:",
            "      mode: required",
            f"      cert: {c['gateway_cert']}",
            f"      key: {c['gateway_key']}",
            f"      client_ca: {c['ca']}",
            "upstream:",
            "  connect_timeout: 5s",
            "  idle_timeout: 1h",
            "policy:",
            f"  dir: {BENCH_DIR / 'policy'}",
            "audit:",
            f"  path: {self.audit_dir / 'gateway.jsonl'}",
            "  write_ahead: true",
            "limits:",
            "  max_connections: 9500",
            "drain_timeout: 1s",
        ]) + "\n"

    def agent_config_text(self) -> str:
        c = self.certs
        return "\n".join([
            f"workers: {self.threads}",
            "listeners:",
            "  - name: plain",
            f'    address: "0.0.0.0:{PLAIN_PORT}"',
            "    destination: original_dst",
            "  - name: card-ports",
            f'    address: "0.0.0.0:{MTLS_PORT}"',
            "    destination: original_dst",
            "upstream:",
            "  connect_timeout: 5s",
            "  idle_timeout: 1h",
            "  via:",
            f'    address: "{GW_CLIENT_V4}:{CONNECT_MTLS_PORT}"',
            "    tunnel: connect",
            "    tls:",
            f"      cert: {c['client_cert']}",
            f"      key: {c['client_key']}",
            f"      ca: {c['ca']}",
            f"      server_name: {c['gateway_name']}",
            "audit:",
            f"  path: {self.audit_dir / 'agent.jsonl'}",
            "  write_ahead: true",
            "limits:",
            "  max_connections: 9500",
            "drain_timeout: 1s",
            # The gateway, in the same namespace, has the default admin address.
            "admin:",
            f'  address: "127.0.0.1:{AGENT_ADMIN_PORT}"',
        ]) + "\n"

    def write_configs(self, workdir: Path) -> tuple[Path, Path]:
        gw, ag = workdir / "egressd-gateway.yaml", workdir / "egressd-agent.yaml"
        gw.write_text(self.gateway_config_text())
        ag.write_text(self.agent_config_text())
        return gw, ag

    def check(self, workdir: Path) -> subprocess.CompletedProcess:
        """egressd --check-config of the gateway's config, then (when it passes) of the agent's."""
        r = None
        for cfg in self.write_configs(workdir):
            r = subprocess.run([str(self.binary), "--check-config", "--config", str(cfg)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode != 0:
                return r
        return r

    def gateway_decisions(self, timeout: float = 2.0, want: int = 1) -> list[dict]:
        """The gateway's connection.decision records (waiting up to `timeout` for `want` of them)."""
        deadline = time.monotonic() + timeout
        while True:
            recs = _audit_records(self.audit_dir / "gateway.jsonl", "connection.decision")
            if len(recs) >= want or time.monotonic() > deadline:
                return recs
            time.sleep(0.05)

    def log_tail(self, n: int = 1500) -> str:
        agent = self.agent_log.read_text(errors="replace")[-n:] if self.agent_log and self.agent_log.exists() else ""
        return f"gateway: {super().log_tail(n)} agent: {agent}"

    def cpu_pids(self) -> dict[str, int]:
        pids = {}
        if self.proc:
            pids["gateway"] = self.proc.pid
        if self.agent_proc:
            pids["agent"] = self.agent_proc.pid
        return pids

    def exited(self) -> str | None:
        for label, p in (("gateway", self.proc), ("agent", self.agent_proc)):
            if p is not None and p.poll() is not None:
                return f"{label} exit {p.returncode}"
        return None

    def start(self, sb: Sandbox, workdir: Path) -> None:
        gw, ag = self.write_configs(workdir)
        self.audit_dir.mkdir(parents=True, exist_ok=True)
        for f in ("gateway.jsonl", "agent.jsonl"):
            (self.audit_dir / f).unlink(missing_ok=True)  # one run's audit at a time on the tmpfs
        log = self.log = workdir / "egressd-gateway.log"
        self.proc = sb.spawn(sb.gateway, [str(self.binary), "--config", str(gw)], stdout=open(log, "w"),
                             stderr=subprocess.STDOUT)
        self._wait_ready(sb, [CONNECT_MTLS_PORT], log)
        alog = self.agent_log = workdir / "egressd-agent.log"
        self.agent_proc = sb.spawn(sb.gateway, [str(self.binary), "--config", str(ag)], stdout=open(alog, "w"),
                                   stderr=subprocess.STDOUT)
        self._wait_ready(sb, [PLAIN_PORT, MTLS_PORT], alog, self.agent_proc)

    def stop(self) -> None:
        # The agent first: its connections to the gateway then end before the gateway does.
        gateway, self.proc = self.proc, self.agent_proc
        super().stop()
        self.proc = gateway
        super().stop()
        self.agent_proc = None


class Squid(Proxy):
    """Squid intercepting TLS on port 15003 (bench/squid/squid.conf.in): ssl_bump peek + splice on
    ssl::server_name, host_verify_strict on. Serves conn_rate_sni only. `squid -N`: one process,
    whose CPU is measured (the certificate generator helpers stay idle: it never bumps).

    squid-connect (issue 20): Squid as an explicit CONNECT proxy on CONNECT_PORT
    (bench/squid/squid-connect.conf.in), the client addressing it directly. Serves connect_rate only."""

    NAMES = ("squid", SQUID_CONNECT_SUBJECT)
    name = "squid"
    mtls = plain = False

    def __init__(self, name: str = "squid"):
        self.name = name
        self.connect = name == SQUID_CONNECT_SUBJECT
        if self.connect:
            self.sni = self.redirect = False
        self.ports = [CONNECT_PORT] if self.connect else [SNI_PORT]
        # Squid drops to the `proxy` user: its files live in a directory of their own that
        # `proxy` can reach (the harness's temporary directory is 0700 root).
        self.dir = Path(tempfile.mkdtemp(prefix="egress-bench-squid-"))
        self.dir.chmod(0o755)
        d = self.dir
        if self.connect:
            conf = (BENCH_DIR / "squid" / "squid-connect.conf.in").read_text().replace("@DIR@", str(d)).replace(
                "@DNS@", DNS_SERVER).replace("@PORT@", str(CONNECT_PORT))
            (d / "squid.conf").write_text(conf)
            subprocess.run(["chown", "-R", "proxy:proxy", str(d)], check=True)
            return
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
        log = self.log = workdir / f"{self.name}.log"
        self.proc = sb.spawn(sb.gateway, self.argv(), stdout=open(log, "w"), stderr=subprocess.STDOUT)
        self._wait_ready(sb, self.ports, log)
