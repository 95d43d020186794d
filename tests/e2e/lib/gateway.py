"""Running egressd (and the upstream servers) inside a Sandbox.

`start_egressd(sb, egressd, policy_files, **config)` writes a config (the key names of the issue
"Transparent data path"), a policy directory and an audit path into the sandbox's work dir, starts
egressd in the gateway namespace and waits until it is ready: every listener port is listening
(read with `ss`, no connection is made, so readiness leaves no audit record), and /readyz answers
200 when the config has an admin address.
"""

from __future__ import annotations

import copy
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

import audit
from sandbox import LIB_DIR, PYTHON, REDIRECT_PORT, Process, Sandbox, SandboxError

DEFAULT_CONFIG = {
    "workers": 2,
    "listeners": [{"name": "egress", "address": f"[::]:{REDIRECT_PORT}", "destination": "original_dst"}],
    "upstream": {"connect_timeout": "2s", "idle_timeout": "1h", "max_duration": "0s", "mark": 0},
    "policy": {"dir": "policy"},
    "audit": {"path": "audit.jsonl"},
    "limits": {"max_connections": 10000},
    "drain_timeout": "5s",
    # Loopback inside the gateway namespace; readiness is its /readyz (see wait_gateway_ready).
    "admin": {"address": "127.0.0.1:9901"},
}


def merge(base: dict, override: dict) -> dict:
    """Deep merge; a None value in `override` removes the key."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


@dataclass
class Upstream:
    """An upstream server (lib/upstream.py) in the internet namespace."""

    proc: Process
    events_path: Path

    def events(self) -> list[dict]:
        return audit.load(self.events_path)

    def accepts(self) -> list[dict]:
        return [e for e in self.events() if e["event"] == "accept"]

    def closes(self) -> list[dict]:
        return [e for e in self.events() if e["event"] == "close"]

    def wait_closes(self, n: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            c = self.closes()
            if len(c) >= n:
                return c
            time.sleep(0.02)
        return self.closes()


def start_upstream(sb: Sandbox, mode: str, listen: list[str], name: str | None = None,
                   extra: list[str] | None = None) -> Upstream:
    """`extra`: more upstream.py arguments (https: ["--cert", PEM, "--key", KEY])."""
    name = name or f"upstream-{mode}-{len(sb.processes)}"
    events = sb.dir / f"{name}.events.jsonl"
    ready = sb.dir / f"{name}.ready"
    argv = [PYTHON, str(LIB_DIR / "upstream.py"), "--mode", mode, "--events", str(events),
            "--ready", str(ready)]
    for spec in listen:
        argv += ["--listen", spec]
    argv += extra or []
    proc = sb.spawn(sb.internet, name, argv)
    deadline = time.monotonic() + 10
    while not ready.exists():
        if not proc.running():
            raise SandboxError(f"{name} exited ({proc.popen.returncode}):\n{proc.stderr_text()}")
        if time.monotonic() > deadline:
            raise SandboxError(f"{name} not ready after 10s:\n{proc.stderr_text()}")
        time.sleep(0.02)
    return Upstream(proc, events)


@dataclass
class Gateway:
    """A running egressd and the files it was started with."""

    sb: Sandbox
    proc: Process
    config_path: Path
    config: dict
    policy_dir: Path
    audit_path: Path

    def records(self) -> list[dict]:
        return audit.load(self.audit_path)

    def wait_records(self, timeout: float = 5.0, count: int = 1, **want) -> list[dict]:
        """Waits until at least `count` records match `want`; returns the matching ones."""
        deadline = time.monotonic() + timeout
        while True:
            found = audit.matching(self.records(), **want)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def stderr(self) -> str:
        return self.proc.stderr_text()

    def write_policy(self, files: dict[str, str]) -> None:
        """Replaces the policy directory's contents with `files` (name → YAML text)."""
        for old in self.policy_dir.glob("*.yaml"):
            old.unlink()
        for fname, text in files.items():
            (self.policy_dir / fname).write_text(text)

    def reload(self) -> None:
        self.proc.signal(signal.SIGHUP)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait for the exit status."""
        self.proc.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.popen.kill()
            self.proc.wait(timeout=5)
            raise SandboxError(f"egressd did not exit within {timeout}s of SIGTERM")

    def listener_ports(self) -> list[int]:
        return sorted({int(lst["address"].rpartition(":")[2]) for lst in self.config["listeners"]})


def write_config(sb: Sandbox, policy_files: dict[str, str] | Path, config: dict | None = None,
                 name: str = "egressd") -> tuple[Path, dict, Path, Path]:
    """Writes the config (and the policy files, unless `policy_files` is an existing directory to
    use as it is) into the work dir; returns (config path, config, policy dir, audit path)."""
    work = sb.dir / name
    work.mkdir(parents=True, exist_ok=True)
    if isinstance(policy_files, Path):
        policy_dir = policy_files.resolve()
    else:
        policy_dir = work / "policy"
        policy_dir.mkdir(parents=True, exist_ok=True)
        for fname, text in policy_files.items():
            (policy_dir / fname).write_text(text)
    audit_path = work / "audit.jsonl"
    cfg = merge(DEFAULT_CONFIG, config or {})
    cfg["policy"]["dir"] = str(policy_dir)
    if cfg["audit"].get("path") != "-":
        cfg["audit"]["path"] = str(audit_path)
    config_path = work / "egressd.yaml"
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return config_path, cfg, policy_dir, audit_path


def start_egressd(sb: Sandbox, egressd: str, policy_files: dict[str, str] | Path, config: dict | None = None,
                  name: str = "egressd", ready_timeout: float = 15.0, wait_ready: bool = True,
                  extra_args: list[str] | None = None) -> Gateway:
    config_path, cfg, policy_dir, audit_path = write_config(sb, policy_files, config, name)
    proc = sb.spawn(sb.gateway, name, [egressd, "--config", str(config_path), *(extra_args or [])])
    gw = Gateway(sb, proc, config_path, cfg, policy_dir, audit_path)
    if wait_ready:
        wait_gateway_ready(gw, ready_timeout)
    return gw


def wait_gateway_ready(gw: Gateway, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    for port in gw.listener_ports():
        gw.sb.wait_listening(gw.sb.gateway, port, max(0.1, deadline - time.monotonic()), gw.proc)
    admin = gw.config.get("admin", {}).get("address")
    if admin:
        url = f"http://{admin}/readyz"
        while True:
            p = gw.sb.exec(gw.sb.gateway, [PYTHON, "-c", _READYZ, url], check=False, timeout=5)
            if p.returncode == 0:
                return
            if not gw.proc.running():
                raise SandboxError(f"egressd exited ({gw.proc.popen.returncode}):\n{gw.stderr()[-4000:]}")
            if time.monotonic() > deadline:
                raise SandboxError(f"{url} not ready after {timeout}s: {p.stdout}{p.stderr}")
            time.sleep(0.05)


_READYZ = """
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception as e:
    print(e); sys.exit(1)
"""
