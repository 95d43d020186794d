"""Cases that run egressd or egressctl as a command, without a sandbox (no namespace, no root):
`--check-config`, `--version`, `policy test`. Each case is a unittest module run as

    python3 case.py --egressd PATH [--egressctl PATH]

`work_dir()` is a temporary directory (removed at exit, kept with EGRESS_E2E_KEEP=1) readable by
every user, so a check can also run as another user (`as_user`); `write_setup()` writes a config,
the LAB policy and an audit directory there.
"""

from __future__ import annotations

import argparse
import atexit
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import yaml

from gateway import DEFAULT_CONFIG, merge
from policies import LAB

SOURCE_DIR = Path(__file__).resolve().parents[3]
ARGS = argparse.Namespace(egressd=None, egressctl=None)


def work_dir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="egress-offline-"))
    os.chmod(d, 0o755)
    if not os.environ.get("EGRESS_E2E_KEEP"):
        atexit.register(shutil.rmtree, d, True)
    else:
        print(f"kept: {d}")
    return d


def write_setup(work: Path, config: dict | None = None, audit_dir: str = "log") -> tuple[Path, dict]:
    """Writes WORK/policy (LAB), WORK/<audit_dir>/ and WORK/egressd.yaml (DEFAULT_CONFIG merged
    with `config`, audit.path in the audit dir); returns the config path and the config."""
    policy = work / "policy"
    policy.mkdir(exist_ok=True)
    (policy / "10-lab.yaml").write_text(LAB)
    (work / audit_dir).mkdir(exist_ok=True)
    cfg = merge(DEFAULT_CONFIG, config or {})
    cfg["policy"]["dir"] = str(policy)
    cfg["audit"]["path"] = str(work / audit_dir / "audit.jsonl")
    path = work / "egressd.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path, cfg


def make_pki(work: Path) -> Path:
    out = work / "pki"
    subprocess.run([str(SOURCE_DIR / "certs" / "make-dev-certs.sh"), str(out)], check=True,
                   capture_output=True, timeout=120)
    os.chmod(out, 0o755)
    return out


def run(argv: list[str], user: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(as_user(user, argv) if user else argv, capture_output=True, text=True,
                          timeout=timeout)


def as_user(user: str, argv: list[str]) -> list[str]:
    """`argv` run as `user` (real and effective ids, its group, no supplementary groups)."""
    pw = pwd.getpwnam(user)
    return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", *argv]


def other_user() -> str | None:
    """A user other than root to run checks as, or None when this process cannot switch users."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return None
    return "nobody"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--egressd", required=True)
    ap.add_argument("--egressctl")
    args, rest = ap.parse_known_args()
    ARGS.egressd, ARGS.egressctl = args.egressd, args.egressctl
    sys.dont_write_bytecode = True
    unittest.main(argv=[sys.argv[0], "-v", *rest], module="__main__")
