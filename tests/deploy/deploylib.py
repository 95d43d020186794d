"""Helpers shared by the deployment-file tests: paths, the gateway config contract, redirect args."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
REDIRECT_SCRIPT = ROOT / "scripts" / "redirect-rules.sh"

# The gateway config keys (issues 3, 4 and 5: the contract; issue 20: the CONNECT listener's
# connect_request_timeout and the agent's upstream.via). A deployment file that uses a key outside
# this set would be refused by egressd ("unknown keys are errors").
CONFIG_KEYS = {
    "": {"workers", "listeners", "upstream", "dns", "policy", "audit", "admin", "limits",
         "drain_timeout"},
    "listeners[]": {"name", "address", "destination", "tls", "max_connections", "peek", "proxy_protocol",
                    "connect_request_timeout"},
    "listeners[].proxy_protocol": {"trusted"},
    "listeners[].tls": {"mode", "cert", "key", "client_ca", "crl", "crl_check", "min_version",
                        "handshake_timeout", "allow_insecure_key_permissions",
                        "session_cache_size"},
    "listeners[].peek": {"timeout", "max_bytes"},
    "upstream": {"connect_timeout", "idle_timeout", "max_duration", "mark", "via"},
    "upstream.via": {"address", "tunnel", "tls"},
    "upstream.via.tls": {"cert", "key", "ca", "server_name"},
    "dns": {"servers", "min_ttl", "timeout"},
    "policy": {"dir", "on_change"},
    "audit": {"path", "write_ahead", "on_overflow", "on_error", "fsync", "fsync_interval",
              "queue_capacity", "gateway_id"},
    "admin": {"address"},
    "limits": {"max_connections", "max_pending", "per_source", "per_source_ipv6_prefix"},
}


def config_key_errors(doc: dict) -> list[str]:
    """Every key path of a gateway config that the contract does not know."""
    errors = []

    def check(node, path: str) -> None:
        allowed = CONFIG_KEYS.get(path)
        if allowed is None:
            return
        if not isinstance(node, dict):
            errors.append(f"{path or '<top>'}: expected a mapping")
            return
        for key, value in node.items():
            if key not in allowed:
                errors.append(f"{path + '.' if path else ''}{key}: unknown key")
            child = f"{path + '.' if path else ''}{key}"
            if isinstance(value, list):
                for item in value:
                    check(item, child + "[]")
            else:
                check(value, child)

    check(doc, "")
    return errors


# `listeners[].destination` values (docs/config.md): the transparent ones need a redirect.
TRANSPARENT_DESTINATIONS = {"original_dst", "tproxy"}
DESTINATIONS = TRANSPARENT_DESTINATIONS | {"connect"}


def make_dev_pki(directory: Path) -> Path:
    """certs/make-dev-certs.sh's material (gateway.pem/.key, payments.pem/.key, ca.pem, ...) in
    directory, keys mode 0600 as egressd wants them."""
    p = subprocess.run([str(ROOT / "certs" / "make-dev-certs.sh"), str(directory)],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"make-dev-certs.sh failed: {p.stderr}")
    return directory


def port_of(address: str) -> int:
    """"0.0.0.0:15001" / "[::]:15001" → 15001."""
    return int(address.rsplit(":", 1)[1])


def option(args: list[str], name: str) -> list[str]:
    """Values of --name=V / --name V in args, comma lists split."""
    values = []
    for i, a in enumerate(args):
        if a.startswith(name + "="):
            values += a.split("=", 1)[1].split(",")
        elif a == name and i + 1 < len(args):
            values += args[i + 1].split(",")
    return values


def redirect_dry_run(args: list[str]) -> subprocess.CompletedProcess:
    """Runs redirect-rules.sh ARGS --dry-run. As root it runs in a new, empty network namespace
    (unshare -n), so it reads no rule of this host; otherwise the script cannot read any rule and
    prints the plan as if none were installed. Either way nothing is changed."""
    argv = [str(REDIRECT_SCRIPT), *args, "--dry-run"]
    if os.geteuid() == 0 and shutil.which("unshare"):
        argv = ["unshare", "--net", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def load_yaml_documents(path: Path) -> list:
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def tool(env: str) -> Path | None:
    """A built binary passed by CMake in the environment (EGRESSD, EGRESSCTL), if it exists."""
    value = os.environ.get(env)
    if value and Path(value).is_file() and os.access(value, os.X_OK):
        return Path(value)
    return None
