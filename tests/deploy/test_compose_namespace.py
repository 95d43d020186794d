#!/usr/bin/env python3
"""The docker-compose demo's mechanism, run for real without Docker.

docker-compose.yaml puts egressd and the client in one network namespace and has the `redirect`
service install nat OUTPUT rules there that exclude egressd's uid. This test builds the same thing
in a network namespace: egressd (the built binary) runs as the Dockerfile's uid with
deploy/compose/egressd.yaml (paths mapped to temporary ones), scripts/redirect-rules.sh runs with
the `redirect` service's own arguments (read from `docker-compose config`), and the client's
requests run as the `client` service's uid. The upstreams are `python3 -m http.server`, as in the
compose file, at the sandbox's internet addresses. Asserted: what the client gets, what the
upstreams saw, the audit records, the image's HEALTHCHECK command, and that egressd's own uid is
not redirected.

When the built egressd accepts the compose config's mTLS listener, the requests are the ones of
docs/docker-compose.md (curl with the payments / analytics certificates). Until then (a build
without TLS listeners) the listener runs without `tls` and the decisions come from the source
address (role ci-runners, 192.0.2.0/28), which is what `make demo` shows.

Needs root and a built egressd (EGRESSD); exits 77 (skipped) otherwise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from deploylib import ROOT, tool  # noqa: E402
from test_compose import COMPOSE_CONFIG, compose_config, dockerfile_uid  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "e2e" / "lib"))
from sandbox import Sandbox  # noqa: E402

SCRIPT = ROOT / "scripts" / "redirect-rules.sh"
UPSTREAMS = {  # address → port; the plain variant uses port 80, the TLS one 8443 (as compose)
    "203.0.113.10": "package mirror",
    "203.0.113.20": "card-network upstream",
    "203.0.113.66": "blocklisted upstream",
    "203.0.113.99": "unlisted upstream",
}


def healthcheck_command() -> str:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    m = re.search(r"^HEALTHCHECK .*?CMD (.*)$", text, re.M)
    return m.group(1).strip()


class ComposeInNamespacesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.egressd = tool("EGRESSD")
        compose = compose_config()
        cls.redirect_args = compose["services"]["redirect"]["command"]
        cls.client_uid = int(str(compose["services"]["client"]["user"]).split(":")[0])
        cls.gateway_uid = dockerfile_uid()

    def setUp(self) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="egd-compose-"))
        self.addCleanup(shutil.rmtree, self.work, True)
        self.work.chmod(0o755)
        self.sb = Sandbox(mode="none", watchdog_s=120)
        self.sb.__enter__()
        self.addCleanup(self.sb.__exit__, None, None, None)
        self.ns = self.sb.client  # "egressd's network namespace": egressd, redirect and client

    # ------------------------------------------------------------------ pieces

    def as_user(self, uid: int, argv: list[str]) -> list[str]:
        return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *argv]

    def start_upstreams(self, port: int) -> dict[str, Path]:
        logs = {}
        for addr, name in UPSTREAMS.items():
            root = self.work / f"www-{addr}"
            root.mkdir()
            (root / "index.html").write_text(f"hello from {name} {addr}\n")
            proc = self.sb.spawn(self.sb.internet, f"http-{addr}",
                                 [sys.executable, "-m", "http.server", str(port), "--bind", addr,
                                  "--directory", str(root)])
            logs[addr] = proc.stderr_path
        for _ in range(200):
            p = self.sb.exec(self.sb.internet, ["ss", "-Hltn", f"sport = :{port}"])
            if len(p.stdout.splitlines()) == len(UPSTREAMS):
                break
            time.sleep(0.05)
        return logs

    def make_certs(self) -> Path:
        certs = self.work / "certs"
        subprocess.run([str(ROOT / "certs" / "make-dev-certs.sh"), str(certs)], check=True,
                       capture_output=True, timeout=120)
        certs.chmod(0o755)
        os.chown(certs / "gateway.key", self.gateway_uid, self.gateway_uid)
        for key in ("payments.key", "analytics.key"):
            os.chown(certs / key, self.client_uid, self.client_uid)
        return certs

    def write_config(self, tls: bool, certs: Path | None) -> Path:
        text = COMPOSE_CONFIG.read_text()
        log = self.work / "log"
        log.mkdir()
        os.chown(log, self.gateway_uid, self.gateway_uid)
        text = text.replace("/etc/egressd/policy", str(ROOT / "policy"))
        text = text.replace("/var/log/egressd", str(log))
        if certs:
            text = text.replace("/etc/egressd/certs", str(certs))
        config = yaml.safe_load(text)
        if not tls:
            del config["listeners"][0]["tls"]
        path = self.work / "egressd.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.audit_path = Path(config["audit"]["path"])
        return path

    def tls_supported(self) -> bool:
        certs = self.make_certs()
        config = self.write_config(tls=True, certs=certs)
        p = subprocess.run([str(self.egressd), "--check-config", "--config", str(config)],
                           capture_output=True, text=True, timeout=60)
        shutil.rmtree(self.work / "log")
        return p.returncode == 0

    def start_egressd(self, config: Path) -> None:
        proc = self.sb.spawn(self.ns, "egressd",
                             self.as_user(self.gateway_uid, [str(self.egressd), "--config", str(config)]))
        self.egressd_proc = proc
        self.sb.wait_listening(self.ns, 15001, proc=proc)
        # The image's HEALTHCHECK, verbatim, against this egressd.
        env = dict(os.environ, EGRESSD_ADMIN="127.0.0.1:9901")
        for _ in range(100):
            p = self.sb.exec(self.ns, ["sh", "-c", healthcheck_command()], check=False, env=env)
            if p.returncode == 0:
                break
            time.sleep(0.05)
        self.assertEqual(p.returncode, 0, f"HEALTHCHECK failed: {p.stdout}{p.stderr}\n{proc.stderr_text()}")

    def install_redirect(self) -> None:
        p = self.sb.exec(self.ns, [str(SCRIPT), *self.redirect_args], check=False)
        self.assertEqual(p.returncode, 0, p.stderr)

    def curl(self, uid: int, args: list[str]) -> subprocess.CompletedProcess:
        p = self.sb.exec(self.ns, self.as_user(uid, ["curl", "-sS", "--max-time", "5", *args]),
                         check=False)
        time.sleep(0.1)
        proc = self.egressd_proc
        self.assertTrue(proc.running(), f"egressd exited ({proc.popen.returncode}) after curl "
                        f"{' '.join(args)}:\n{proc.stderr_text()[-3000:]}")
        return p

    def decisions(self, n: int) -> list[dict]:
        for _ in range(100):
            if self.audit_path.exists():
                records = [json.loads(line) for line in self.audit_path.read_text().splitlines()
                           if line.strip()]
                got = [r for r in records if r["event"] == "connection.decision"]
                if len(got) >= n:
                    return got
            time.sleep(0.05)
        text = self.audit_path.read_text() if self.audit_path.exists() else "(no file)"
        self.fail(f"fewer than {n} decision records in {self.audit_path}:\n{text}")

    def requests_seen(self, log: Path) -> int:
        return len(re.findall(r'"GET / HTTP', log.read_text())) if log.exists() else 0

    # ------------------------------------------------------------------ the test

    def test_compose_mechanism(self) -> None:
        if self.tls_supported():
            self.run_tls_variant()
        else:
            self.run_plain_variant()

    def run_plain_variant(self) -> None:
        logs = self.start_upstreams(80)
        self.start_egressd(self.write_config(tls=False, certs=None))
        self.install_redirect()
        ok = self.curl(self.client_uid, ["http://203.0.113.10/"])
        self.assertEqual((ok.returncode, ok.stdout), (0, "hello from package mirror 203.0.113.10\n"),
                         ok.stderr)
        for addr in ("203.0.113.66", "203.0.113.99"):
            denied = self.curl(self.client_uid, [f"http://{addr}/"])
            self.assertNotEqual(denied.returncode, 0, denied.stdout)
            self.assertEqual(self.requests_seen(logs[addr]), 0, f"{addr} saw a request")
        records = self.decisions(3)
        got = [(r["src"]["ip"], f"{r['dst']['ip']}:{r['dst']['port']}", r["decision"], r.get("rule"))
               for r in records]
        self.assertEqual(got, [
            ("192.0.2.2", "203.0.113.10:80", "allow", "ci-runners-to-package-mirrors"),
            ("192.0.2.2", "203.0.113.66:80", "deny", "deny-blocklist"),
            ("192.0.2.2", "203.0.113.99:80", "deny", None),
        ])
        self.assert_gateway_uid_is_not_redirected("http://203.0.113.99/", logs["203.0.113.99"])

    def run_tls_variant(self) -> None:
        certs = self.make_certs()
        logs = self.start_upstreams(8443)
        self.start_egressd(self.write_config(tls=True, certs=certs))
        self.install_redirect()

        def request(who: str | None, addr: str) -> subprocess.CompletedProcess:
            args = ["--cacert", str(certs / "ca.pem"), "--resolve", f"egressd.local:8443:{addr}",
                    "https://egressd.local:8443/"]
            if who:
                args = ["--cert", str(certs / f"{who}.pem"), "--key", str(certs / f"{who}.key"), *args]
            return self.curl(self.client_uid, args)

        ok = request("payments", "203.0.113.20")
        self.assertEqual((ok.returncode, ok.stdout),
                         (0, "hello from card-network upstream 203.0.113.20\n"), ok.stderr)
        for who, addr in (("analytics", "203.0.113.20"), ("payments", "203.0.113.66"),
                          (None, "203.0.113.20")):
            denied = request(who, addr)
            self.assertNotEqual(denied.returncode, 0, denied.stdout)
        self.assertEqual(self.requests_seen(logs["203.0.113.20"]), 1)
        self.assertEqual(self.requests_seen(logs["203.0.113.66"]), 0)
        records = self.decisions(4)
        got = [(r.get("identity", {}).get("spiffe_id"), f"{r['dst']['ip']}:{r['dst']['port']}",
                r["decision"], r.get("rule") or r["reason"]) for r in records]
        self.assertEqual(got, [
            ("spiffe://corp.example/ns/payments/sa/api", "203.0.113.20:8443", "allow",
             "payments-to-card-networks"),
            ("spiffe://corp.example/ns/analytics/sa/etl", "203.0.113.20:8443", "deny", "default"),
            ("spiffe://corp.example/ns/payments/sa/api", "203.0.113.66:8443", "deny", "deny-blocklist"),
            (None, "203.0.113.20:8443", "deny", "no_client_cert"),
        ])

    def assert_gateway_uid_is_not_redirected(self, url: str, log: Path) -> None:
        before = len(self.decisions(1))
        seen = self.requests_seen(log)
        direct = self.curl(self.gateway_uid, [url])
        self.assertEqual(direct.returncode, 0, direct.stderr)
        self.assertEqual(self.requests_seen(log), seen + 1)
        time.sleep(0.2)
        records = [json.loads(line) for line in self.audit_path.read_text().splitlines() if line.strip()]
        self.assertEqual(len([r for r in records if r["event"] == "connection.decision"]), before,
                         "egressd's own uid went through egressd")


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test_compose_namespace.py: needs root (network namespaces, iptables): skipped")
        sys.exit(77)
    if not tool("EGRESSD") or not shutil.which("docker-compose") or not shutil.which("setpriv"):
        print("test_compose_namespace.py: needs EGRESSD (a built egressd), docker-compose, setpriv: skipped")
        sys.exit(77)
    unittest.main(verbosity=2)
