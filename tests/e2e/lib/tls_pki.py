"""mTLS helpers for the end-to-end cases and the demo: the dev PKI, a TLS listener, real clients.

`make_pki(sb, source_dir)` runs certs/make-dev-certs.sh into the sandbox's work dir (so the case
never depends on, or changes, certs/out/); `tls_listener(pki)` is a listener entry for the config;
`s_client(...)` and `socat(...)` run `openssl s_client` / `socat OPENSSL:` in the client namespace
presenting one of the dev certificates ("payments", "analytics", ..., None for no certificate).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from sandbox import PYTHON, REDIRECT_PORT, Sandbox


def make_pki(sb: Sandbox, source_dir: str | Path) -> Path:
    out = sb.dir / "pki"
    script = Path(source_dir) / "certs" / "make-dev-certs.sh"
    p = subprocess.run([str(script), str(out)], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"{script} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return out


def tls_listener(pki: Path, mode: str = "required", name: str = "egress",
                 address: str = f"[::]:{REDIRECT_PORT}", crl: str | None = "ca.crl",
                 handshake_timeout: str = "10s", min_version: str = "1.2") -> dict:
    tls = {"mode": mode, "cert": str(pki / "gateway.pem"), "key": str(pki / "gateway.key"),
           "client_ca": str(pki / "ca.pem"), "min_version": min_version,
           "handshake_timeout": handshake_timeout}
    if crl:
        tls["crl"] = str(pki / crl)
    return {"name": name, "address": address, "destination": "original_dst", "tls": tls}


def s_client(sb: Sandbox, pki: Path, dst: str, cert: str | None, stdin: str = "",
             extra: list[str] | None = None, timeout: float = 20) -> subprocess.CompletedProcess:
    """`openssl s_client -connect dst` from the client namespace, trusting the dev CA and
    presenting `cert` (None: no certificate). Without -quiet/-ign_eof in `extra` it closes after
    stdin's EOF."""
    argv = ["openssl", "s_client", "-connect", dst, "-CAfile", str(pki / "ca.pem"),
            "-verify_return_error"]
    if cert:
        argv += ["-cert", str(pki / f"{cert}.pem"), "-key", str(pki / f"{cert}.key")]
    argv += extra or []
    return sb.client_exec(argv, timeout=timeout, input=stdin)


def socat(sb: Sandbox, pki: Path, dst: str, cert: str | None, stdin: str,
          timeout: float = 20) -> subprocess.CompletedProcess:
    """`socat -t 5 - OPENSSL:dst,...` from the client namespace: sends stdin, half-closes, prints
    what came back."""
    host, _, port = dst.rpartition(":")
    opts = [f"cafile={pki / 'ca.pem'}", "verify=1", "commonname=egressd.local"]
    if cert:
        opts += [f"cert={pki / (cert + '.pem')}", f"key={pki / (cert + '.key')}"]
    addr = f"OPENSSL:{host}:{port}," + ",".join(opts)
    return sb.client_exec(["socat", "-t", "5", "-", addr], timeout=timeout, input=stdin)


_METRICS = """
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    sys.stdout.write(r.read().decode())
"""


def tls_handshakes(sb: Sandbox, admin: str, listener: str = "egress") -> dict[str, int]:
    """egressd_tls_handshakes_total of `listener` from /metrics, by result."""
    p = sb.exec(sb.gateway, [PYTHON, "-c", _METRICS, f"http://{admin}/metrics"], check=False, timeout=10)
    out: dict[str, int] = {}
    pat = re.compile(r'^egressd_tls_handshakes_total\{listener="([^"]*)",result="([^"]*)"\} (\d+)$')
    for line in p.stdout.splitlines():
        m = pat.match(line)
        if m and m.group(1) == listener:
            out[m.group(2)] = int(m.group(3))
    return out
