"""The benchmark's network-namespace sandbox (addressing contract of briefs/sandbox.md).

    ns client  eth0 192.0.2.2 ──veth── to-client 192.0.2.1  ns gateway  to-inet 203.0.113.254 ──veth── eth0 ns internet
                                                                                               203.0.113.10 .20 .30 .99

redirect=True adds, in the gateway namespace only:
    iptables -t nat -A PREROUTING -i to-client -p tcp --dport 8443:8450 -j REDIRECT --to-ports 15002   (mTLS listener)
    iptables -t nat -A PREROUTING -i to-client -p tcp --dport 443       -j REDIRECT --to-ports 15003   (SNI listener)
    iptables -t nat -A PREROUTING -i to-client -p tcp                   -j REDIRECT --to-ports 15001   (plain listener)
redirect=False is the `direct` path: plain routing through the gateway, no proxy; and the sandbox of
an explicit CONNECT proxy (issue 20), which the client addresses itself at 192.0.2.1:15004.

Names are bch-<pid>-<seq>-<role>; veth pairs are created inside the namespaces, so the root namespace
is never touched. close() kills every process in the namespaces and deletes them; it is called from
`with`, from SIGINT/SIGTERM/SIGHUP handlers (bench.py) and atexit.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import time

CLIENT_V4 = "192.0.2.2"
GW_CLIENT_V4 = "192.0.2.1"
GW_INET_V4 = "203.0.113.254"
UPSTREAM_A = "203.0.113.10"  # plain upstreams (package-mirrors in the example policy)
UPSTREAM_B = "203.0.113.20"  # second upstream; also the mTLS destination (card-networks)
DIRECT_TLS = "203.0.113.30"  # direct path's own TLS endpoints (no proxy to terminate TLS)
DENIED = "203.0.113.99"  # no rule admits it: must never be reached through a proxy
INTERNET_V4 = [UPSTREAM_A, UPSTREAM_B, DIRECT_TLS, DENIED]
PLAIN_PORT = 15001
MTLS_PORT = 15002
SNI_PORT = 15003  # TLS passed through, decided on the destination (and the SNI name, by name-aware subjects)
CONNECT_PORT = 15004  # explicit CONNECT proxies over plain TCP (issue 20); addressed directly, not redirected
CONNECT_MTLS_PORT = 15005  # egressd's CONNECT listener inside mTLS: the gateway the egressd agent tunnels to
TLS_PORT = 443  # the TLS upstreams of conn_rate_sni: UPSTREAM_B (allowed) and DENIED (no rule admits it)
DNS_SERVER = UPSTREAM_A  # dnsmasq on :53 in the internet namespace, for the subjects that resolve names
ALLOWED_NAME = "allowed.bench.example"  # resolves to UPSTREAM_B; the name every name-aware subject allows
OTHER_NAME = "other.bench.example"  # also resolves to UPSTREAM_B; no subject allows it

_NAME_RE = re.compile(r"^bch-(\d+)-(\d+)-(client|gateway|internet)$")
_seq = itertools.count(1)


def sh(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"command failed ({p.returncode}): {' '.join(argv)}\n{p.stderr}")
    return p


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_all(ns: str) -> None:
    for _ in range(50):
        pids = [int(x) for x in sh(["ip", "netns", "pids", ns], check=False).stdout.split() if x.isdigit()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def sweep_stale() -> None:
    """Deletes sandboxes of benchmark runs that were SIGKILLed (owner pid gone)."""
    for line in sh(["ip", "netns", "list"], check=False).stdout.splitlines():
        ns = line.split()[0] if line.strip() else ""
        m = _NAME_RE.match(ns)
        if m and not _pid_alive(int(m.group(1))):
            _kill_all(ns)
            sh(["ip", "netns", "delete", ns], check=False)


class Sandbox:
    def __init__(self, redirect: bool):
        tag = f"bch-{os.getpid()}-{next(_seq)}"
        self.client, self.gateway, self.internet = (f"{tag}-{r}" for r in ("client", "gateway", "internet"))
        self.namespaces = [self.client, self.gateway, self.internet]
        self.redirect = redirect
        self.created: list[str] = []
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> "Sandbox":
        try:
            self._up()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def ip(self, ns: str, *args: str) -> None:
        sh(["ip", "-n", ns, *args])

    def ns_exec(self, ns: str, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def _sysctl(self, ns: str, key: str, value: str) -> None:
        sh(self.ns_exec(ns, "sysctl", "-q", "-w", f"{key}={value}"))

    def _up(self) -> None:
        for ns in self.namespaces:
            sh(["ip", "netns", "add", ns])
            self.created.append(ns)
            self.ip(ns, "link", "set", "lo", "up")
            # Many short connections per run (wrk Connection: close): widen the port range and
            # reuse TIME_WAIT ports, as any busy proxy host does. Per namespace, never the root's.
            self._sysctl(ns, "net.ipv4.ip_local_port_range", "1024 65535")
            self._sysctl(ns, "net.ipv4.tcp_tw_reuse", "1")
            self._sysctl(ns, "net.core.somaxconn", "8192")
            self._sysctl(ns, "net.ipv4.tcp_max_syn_backlog", "8192")
        self.ip(self.client, "link", "add", "eth0", "type", "veth", "peer", "name", "to-client", "netns", self.gateway)
        self.ip(self.gateway, "link", "add", "to-inet", "type", "veth", "peer", "name", "eth0", "netns", self.internet)
        self.ip(self.client, "addr", "add", f"{CLIENT_V4}/24", "dev", "eth0")
        self.ip(self.client, "link", "set", "eth0", "up")
        self.ip(self.client, "route", "add", "default", "via", GW_CLIENT_V4)
        self.ip(self.gateway, "addr", "add", f"{GW_CLIENT_V4}/24", "dev", "to-client")
        self.ip(self.gateway, "addr", "add", f"{GW_INET_V4}/24", "dev", "to-inet")
        self.ip(self.gateway, "link", "set", "to-client", "up")
        self.ip(self.gateway, "link", "set", "to-inet", "up")
        self._sysctl(self.gateway, "net.ipv4.ip_forward", "1")
        for a in INTERNET_V4:
            self.ip(self.internet, "addr", "add", f"{a}/24", "dev", "eth0")
        self.ip(self.internet, "link", "set", "eth0", "up")
        self.ip(self.internet, "route", "add", "default", "via", GW_INET_V4)
        if self.redirect:
            ipt = self.ns_exec(self.gateway, "iptables", "-w", "-t", "nat", "-A", "PREROUTING", "-i", "to-client", "-p", "tcp")
            sh(ipt + ["--dport", "8443:8450", "-j", "REDIRECT", "--to-ports", str(MTLS_PORT)])
            sh(ipt + ["--dport", str(TLS_PORT), "-j", "REDIRECT", "--to-ports", str(SNI_PORT)])
            sh(ipt + ["-j", "REDIRECT", "--to-ports", str(PLAIN_PORT)])

    def spawn(self, ns: str, argv: list[str], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
              **kw) -> subprocess.Popen:
        p = subprocess.Popen(self.ns_exec(ns, *argv), stdout=stdout, stderr=stderr, **kw)
        self.procs.append(p)
        return p

    def run(self, ns: str, argv: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.ns_exec(ns, *argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout, **kw)

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()
        for ns in reversed(self.created):
            _kill_all(ns)
            sh(["ip", "netns", "delete", ns], check=False)
        self.created.clear()
