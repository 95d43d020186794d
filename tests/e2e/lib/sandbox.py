"""The network-namespace sandbox (design: "Testing in a sandbox that is real"; addresses: the sandbox contract).

    ns client  (192.0.2.2, 2001:db8:1::2) --veth-- ns gateway (192.0.2.1 | 203.0.113.254) --veth-- ns internet
                                                   nat PREROUTING -i to-client -p tcp -j REDIRECT --to-ports 15001

Namespace names are unique per run (egt-<pid>-<seq>-<role>); the veth pairs are created directly
inside the namespaces, so nothing is ever added to the root namespace (no interface, no route, no
iptables rule). Teardown kills every process running in the sandbox's namespaces and deletes them;
it runs from __exit__, from SIGINT/SIGTERM/SIGHUP handlers and from a watchdog alarm, so every exit
path short of SIGKILL cleans up. A SIGKILLed run leaves namespaces named after a dead pid: the next
Sandbox sweeps those.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

LIB_DIR = Path(__file__).resolve().parent
PYTHON = os.environ.get("EGRESS_E2E_PYTHON", sys.executable or "python3")

# The addressing contract (briefs/sandbox.md).
CLIENT_V4, CLIENT_V6 = "192.0.2.2", "2001:db8:1::2"
GW_CLIENT_V4, GW_CLIENT_V6 = "192.0.2.1", "2001:db8:1::1"
GW_INET_V4, GW_INET_V6 = "203.0.113.254", "2001:db8:2::fe"
INTERNET_V4 = ["203.0.113.10", "203.0.113.20", "203.0.113.66", "203.0.113.99"]
INTERNET_V6 = ["2001:db8:2::10", "2001:db8:2::20"]
REDIRECT_PORT = 15001
TPROXY_PORT = 15002
TPROXY_MARK = 0x1
TPROXY_TABLE = 100

# Interface names, per namespace (they never meet in one namespace, so they need no uniqueness).
IF_CLIENT = "eth0"  # in client
IF_GW_CLIENT = "to-client"  # in gateway
IF_GW_INET = "to-inet"  # in gateway
IF_INET = "eth0"  # in internet

_NAME_RE = re.compile(r"^egt-(\d+)-(\d+)-(client|gateway|internet)$")
_seq = itertools.count(1)
_PR_SET_PDEATHSIG = 1


class SandboxError(RuntimeError):
    pass


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when the test process dies (survives `ip netns exec`'s exec)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def _run(argv: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    p = subprocess.run(argv, **kw)
    if check and p.returncode != 0:
        raise SandboxError(f"command failed ({p.returncode}): {' '.join(argv)}\n{p.stderr}")
    return p


def list_namespaces() -> list[str]:
    out = _run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace_processes(ns: str, sig: int = signal.SIGKILL) -> list[int]:
    p = _run(["ip", "netns", "pids", ns], check=False)
    pids = [int(x) for x in p.stdout.split() if x.isdigit()]
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return pids


def _delete_namespace(ns: str) -> None:
    for _ in range(50):
        if not _kill_namespace_processes(ns):
            break
        time.sleep(0.05)
    _run(["ip", "netns", "delete", ns], check=False)


def sweep_stale() -> list[str]:
    """Deletes sandboxes left by runs that were SIGKILLed (their owner pid is gone)."""
    swept = []
    for ns in list_namespaces():
        m = _NAME_RE.match(ns)
        if m and not _pid_alive(int(m.group(1))):
            _delete_namespace(ns)
            swept.append(ns)
    return swept


@dataclass
class Process:
    name: str
    ns: str
    argv: list[str]
    popen: subprocess.Popen
    stdout_path: Path | None = None
    stderr_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.running():
            self.popen.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout=timeout)

    def stop(self, timeout: float = 3.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`. Returns the exit status."""
        if self.running():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        return self.popen.returncode

    def stderr_text(self) -> str:
        if self.stderr_path and self.stderr_path.exists():
            return self.stderr_path.read_text(errors="replace")
        return ""


@dataclass
class Sandbox:
    """Three namespaces joined by veth pairs, per the addressing contract.

    mode "redirect": nat PREROUTING REDIRECT (IPv4 and IPv6) of every TCP connection arriving from
    the client to REDIRECT_PORT. mode "tproxy": mangle PREROUTING TPROXY to TPROXY_PORT with the
    policy-routing rule that delivers marked packets locally. mode "none": plain routing.
    """

    mode: str = "redirect"
    watchdog_s: int = 0  # > 0: tear down and fail when the run takes longer than this
    keep: bool = field(default_factory=lambda: os.environ.get("EGRESS_E2E_KEEP") == "1")
    extra_v4: list[str] = field(default_factory=list)  # more internet addresses (203.0.113.x)
    extra_v6: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        tag = f"egt-{os.getpid()}-{next(_seq)}"
        self.tag = tag
        self.client = f"{tag}-client"
        self.gateway = f"{tag}-gateway"
        self.internet = f"{tag}-internet"
        self.namespaces = [self.client, self.gateway, self.internet]
        self.dir = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
        self.processes: list[Process] = []
        self._created: list[str] = []
        self._old_handlers: dict[int, object] = {}
        self._up = False
        self.failed = False

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> "Sandbox":
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        if self.watchdog_s > 0:
            self._old_handlers[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._on_alarm)
            signal.alarm(self.watchdog_s)
        try:
            sweep_stale()
            self.up()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.failed = True
        self.teardown()

    def _on_signal(self, signum, _frame):
        raise SystemExit(f"sandbox {self.tag}: interrupted by signal {signum}")

    def _on_alarm(self, _signum, _frame):
        raise TimeoutError(f"sandbox {self.tag}: watchdog: still running after {self.watchdog_s}s")

    def teardown(self) -> None:
        if self.watchdog_s > 0:
            signal.alarm(0)
        # Signals during teardown must not interrupt it.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        try:
            for proc in reversed(self.processes):
                if proc.running():
                    proc.popen.kill()
                try:
                    proc.popen.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            for ns in self._created:
                _delete_namespace(ns)
            self._created.clear()
            if self.keep or self.failed:
                print(f"sandbox {self.tag}: kept work dir {self.dir}", file=sys.stderr)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
        finally:
            for sig, handler in self._old_handlers.items():
                signal.signal(sig, handler)
            self._old_handlers.clear()

    # ---------------------------------------------------------------- building

    def up(self) -> None:
        for ns in self.namespaces:
            _run(["ip", "netns", "add", ns])
            self._created.append(ns)
            self.ip(ns, "link", "set", "lo", "up")
            # No DAD, no router advertisements: addresses are usable at once, nothing else appears.
            self.sysctl(ns, "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
                        "net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0")
        # veth pairs created inside the namespaces: no interface ever exists in the root namespace.
        self.ip(self.client, "link", "add", IF_CLIENT, "type", "veth", "peer", "name", IF_GW_CLIENT,
                "netns", self.gateway)
        self.ip(self.gateway, "link", "add", IF_GW_INET, "type", "veth", "peer", "name", IF_INET,
                "netns", self.internet)

        self._addr(self.client, IF_CLIENT, f"{CLIENT_V4}/24", f"{CLIENT_V6}/64")
        self._addr(self.gateway, IF_GW_CLIENT, f"{GW_CLIENT_V4}/24", f"{GW_CLIENT_V6}/64")
        self._addr(self.gateway, IF_GW_INET, f"{GW_INET_V4}/24", f"{GW_INET_V6}/64")
        v4 = INTERNET_V4 + [a for a in self.extra_v4 if a not in INTERNET_V4]
        v6 = INTERNET_V6 + [a for a in self.extra_v6 if a not in INTERNET_V6]
        self._addr(self.internet, IF_INET, *[f"{a}/24" for a in v4], *[f"{a}/64" for a in v6])
        for ns, ifname in ((self.client, IF_CLIENT), (self.gateway, IF_GW_CLIENT),
                           (self.gateway, IF_GW_INET), (self.internet, IF_INET)):
            self.ip(ns, "link", "set", ifname, "up")

        self.ip(self.client, "route", "add", "default", "via", GW_CLIENT_V4)
        self.ip(self.client, "-6", "route", "add", "default", "via", GW_CLIENT_V6)
        self.ip(self.internet, "route", "add", "default", "via", GW_INET_V4)
        self.ip(self.internet, "-6", "route", "add", "default", "via", GW_INET_V6)
        self.sysctl(self.gateway, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")

        if self.mode == "redirect":
            for tool in ("iptables", "ip6tables"):
                self.exec(self.gateway, [tool, "-w", "-t", "nat", "-A", "PREROUTING", "-i", IF_GW_CLIENT,
                                         "-p", "tcp", "-j", "REDIRECT", "--to-ports", str(REDIRECT_PORT)])
        elif self.mode == "tproxy":
            for tool, fam, local in (("iptables", "-4", "0.0.0.0/0"), ("ip6tables", "-6", "::/0")):
                self.exec(self.gateway, [tool, "-w", "-t", "mangle", "-A", "PREROUTING", "-i", IF_GW_CLIENT,
                                         "-p", "tcp", "-j", "TPROXY", "--on-port", str(TPROXY_PORT),
                                         "--tproxy-mark", f"{TPROXY_MARK:#x}/{TPROXY_MARK:#x}"])
                self.ip(self.gateway, fam, "rule", "add", "fwmark", f"{TPROXY_MARK:#x}/{TPROXY_MARK:#x}",
                        "lookup", str(TPROXY_TABLE))
                self.ip(self.gateway, fam, "route", "add", "local", local, "dev", "lo", "table",
                        str(TPROXY_TABLE))
        elif self.mode != "none":
            raise SandboxError(f"unknown sandbox mode {self.mode!r}")
        self._up = True

    def _addr(self, ns: str, ifname: str, *cidrs: str) -> None:
        for cidr in cidrs:
            extra = ["nodad"] if ":" in cidr else []
            self.ip(ns, "addr", "add", cidr, "dev", ifname, *extra)

    def blackhole(self, addr: str) -> None:
        """Makes `addr` (which must be one of the internet addresses) swallow every TCP SYN."""
        tool = "ip6tables" if ":" in addr else "iptables"
        self.exec(self.internet, [tool, "-w", "-A", "INPUT", "-d", addr, "-p", "tcp", "--syn", "-j", "DROP"])

    # ---------------------------------------------------------------- running things

    def ip(self, ns: str, *args: str) -> subprocess.CompletedProcess:
        return _run(["ip", "-n", ns, *args])

    def sysctl(self, ns: str, *settings: str) -> None:
        self.exec(ns, ["sysctl", "-q", "-w", *settings])

    def exec(self, ns: str, argv: list[str], check: bool = True, timeout: float | None = 60,
             **kw) -> subprocess.CompletedProcess:
        """Runs argv to completion inside namespace `ns`."""
        return _run(["ip", "netns", "exec", ns, *argv], check=check, timeout=timeout,
                    preexec_fn=_die_with_parent, **kw)

    def spawn(self, ns: str, name: str, argv: list[str], env: dict | None = None,
              cwd: str | None = None) -> Process:
        """Starts argv in the background inside `ns`; stdout/stderr go to files in the work dir."""
        out = self.dir / f"{name}.stdout"
        err = self.dir / f"{name}.stderr"
        with open(out, "wb") as fo, open(err, "wb") as fe:
            popen = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdin=subprocess.DEVNULL,
                                     stdout=fo, stderr=fe, env=env, cwd=cwd,
                                     preexec_fn=_die_with_parent)
        proc = Process(name, ns, argv, popen, out, err)
        self.processes.append(proc)
        return proc

    def listening(self, ns: str, port: int) -> int:
        """Number of TCP sockets listening on `port` in `ns` (read from ss, no connection made)."""
        p = self.exec(ns, ["ss", "-Hltn", f"sport = :{port}"], check=False)
        return len([line for line in p.stdout.splitlines() if line.strip()])

    def wait_listening(self, ns: str, port: int, timeout: float = 10.0,
                       proc: Process | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.listening(ns, port) > 0:
                return
            if proc is not None and not proc.running():
                raise SandboxError(f"{proc.name} exited ({proc.popen.returncode}) before listening on "
                                   f":{port}\n{proc.stderr_text()[-4000:]}")
            time.sleep(0.02)
        raise SandboxError(f"nothing listening on :{port} in {ns} after {timeout}s")

    def client_run(self, args: list[str], timeout: float = 120) -> dict:
        """Runs lib/client.py in the client namespace and returns its JSON result."""
        p = self.exec(self.client, [PYTHON, str(LIB_DIR / "client.py"), *args], check=False,
                      timeout=timeout)
        if p.returncode != 0:
            raise SandboxError(f"client.py {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
        try:
            return json.loads(p.stdout)
        except json.JSONDecodeError as e:
            raise SandboxError(f"client.py printed no JSON ({e}):\n{p.stdout}\n{p.stderr}") from e

    def client_exec(self, argv: list[str], timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        """Runs a real client (curl, socat, ...) in the client namespace."""
        return self.exec(self.client, argv, check=False, timeout=timeout, **kw)
