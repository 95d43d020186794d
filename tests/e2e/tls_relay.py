#!/usr/bin/env python3
"""The relay over a TLS client connection: plaintext bytes, in order, both ways; half-close.

Through the mTLS listener with `socat OPENSSL:` presenting the payments certificate: 16 MiB
uploaded to a sink arrive with the same SHA-256; 4 MiB echoed come back identical; a client that
sends its request and half-closes (close_notify) still gets the reply an upstream sends after
seeing EOF. The close records count plaintext bytes.
"""

import hashlib
import os
import shutil
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
import tls_pki  # noqa: E402

POLICY = """\
kind: Settings
default: deny
mode: enforce
---
kind: Rule
id: payments-to-lab
action: allow
from: [{identity: "spiffe://corp.example/ns/payments/sa/*"}]
to: [{cidrs: [203.0.113.20/32], ports: [7, 9, 19]}]
"""


def run(t: harness.Case) -> None:
    t.require(shutil.which("socat") is not None, "socat installed (make deps)")
    pki = tls_pki.make_pki(t.sb, t.args.source_dir)
    sink = t.upstream("sink", ["203.0.113.20:9"])
    echo = t.upstream("echo", ["203.0.113.20:7"])
    half = t.upstream("halfclose", ["203.0.113.20:19"])
    gw = t.egressd(POLICY, {"listeners": [tls_pki.tls_listener(pki)]})
    opts = (f"cafile={pki / 'ca.pem'},verify=1,commonname=egressd.local,"
            f"cert={pki / 'payments.pem'},key={pki / 'payments.key'}")

    upload = t.sb.dir / "upload.bin"
    upload.write_bytes(os.urandom(16 << 20))
    digest = hashlib.sha256(upload.read_bytes()).hexdigest()
    p = t.sb.client_exec(["socat", "-u", f"FILE:{upload}", f"OPENSSL:203.0.113.20:9,{opts}"], timeout=120)
    t.check_eq(p.returncode, 0, "16 MiB upload: socat exits 0", p.stderr[-300:])
    got = sink.wait_closes(1, timeout=20)
    t.check_eq([(c["bytes_in"], c["sha256_in"]) for c in got], [(16 << 20, digest)],
               "16 MiB upload: the sink got every byte, same SHA-256")
    t.check_record(gw, "16 MiB upload: close record counts 16 MiB of plaintext up", event="connection.close",
                   dst="203.0.113.20:9", bytes_up=16 << 20, bytes_down=0)

    data = os.urandom(4 << 20)
    p = t.sb.exec(t.sb.client, ["socat", "-t", "10", "-", f"OPENSSL:203.0.113.20:7,{opts}"], check=False,
                  timeout=120, input=data, text=False)
    t.check_eq((p.returncode, len(p.stdout), hashlib.sha256(p.stdout).hexdigest()),
               (0, len(data), hashlib.sha256(data).hexdigest()), "4 MiB echo: the same bytes come back")
    t.check_record(gw, "4 MiB echo: close record, 4 MiB each way", event="connection.close",
                   dst="203.0.113.20:7", bytes_up=4 << 20, bytes_down=4 << 20)
    t.check_eq(len(echo.wait_closes(1)), 1, "the echo server saw one connection")

    req = b"question after which I half-close\n"
    p = t.sb.exec(t.sb.client, ["socat", "-t", "5", "-", f"OPENSSL:203.0.113.20:19,{opts}"], check=False,
                  timeout=30, input=req, text=False)
    want = f"ACK {len(req)} {hashlib.sha256(req).hexdigest()}\n".encode()
    t.check_eq(p.stdout, want, "half-close: the reply sent after the upstream saw EOF reaches the client")
    closes = half.wait_closes(1)
    t.check_eq([c["end"] for c in closes], ["eof"], "half-close: the upstream saw a clean EOF")
    rec = t.check_record(gw, "half-close: close record", event="connection.close", dst="203.0.113.20:19")
    if rec:
        t.check_eq((audit.bytes_up(rec), audit.bytes_down(rec), rec.get("reason")), (len(req), len(want), "eof"),
                   "half-close: plaintext bytes each way, eof")


harness.main(run)
