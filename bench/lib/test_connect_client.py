"""Unit tests of connect_rate's client, bench/lib/connect_client.c (run by `bench/run.sh --check`):
it counts a tunnel only when the proxy answered 200 and the upstream's own answer came back
through it, and counts a refusal or a wrong answer as a failure (which fails the run)."""

from __future__ import annotations

import json
import socketserver
import subprocess
import tempfile
import threading
import unittest
from pathlib import Path

LIB = Path(__file__).resolve().parent
TARGET = "203.0.113.10:80"


def fake_proxy(connect_answer: bytes, upstream_body: bytes) -> socketserver.ThreadingTCPServer:
    """A CONNECT proxy and its upstream in one: answers the CONNECT head with connect_answer, then
    (when it was a 200) the request through the tunnel with upstream_body, and closes."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                line = self.rfile.readline()
                if not line:
                    return
                head += line
            if not head.startswith(f"CONNECT {TARGET} HTTP/1.1\r\n".encode()):
                return
            self.wfile.write(connect_answer)
            if b" 200 " not in connect_answer:
                return
            request = b""
            while not request.endswith(b"\r\n\r\n"):
                line = self.rfile.readline()
                if not line:
                    return
                request += line
            self.wfile.write(b"HTTP/1.0 200 OK\r\n\r\n" + upstream_body)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class ConnectClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = Path(tempfile.mkdtemp())
        cls.exe = cls.dir / "connect_client"
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(cls.exe), str(LIB / "connect_client.c")],
                       check=True)

    def run_against(self, connect_answer: bytes, upstream_body: bytes) -> dict:
        server = fake_proxy(connect_answer, upstream_body)
        try:
            port = server.server_address[1]
            p = subprocess.run([str(self.exe), f"127.0.0.1:{port}", TARGET, "0.3", "2"], capture_output=True,
                               text=True, timeout=20)
        finally:
            server.shutdown()
            server.server_close()
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def test_tunnels_through_a_proxy_that_answers_200(self):
        r = self.run_against(b"HTTP/1.1 200 Connection established\r\n\r\n", f"ok {TARGET}\n".encode())
        self.assertGreater(r["connections"], 0)
        self.assertEqual(r["failed"], 0)
        self.assertIsNone(r["first_error"])

    def test_a_refused_connect_is_a_failure(self):
        r = self.run_against(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", b"")
        self.assertEqual(r["connections"], 0)
        self.assertGreater(r["failed"], 0)
        self.assertIn("CONNECT refused", r["first_error"])

    def test_an_answer_from_another_upstream_is_a_failure(self):
        r = self.run_against(b"HTTP/1.1 200 Connection established\r\n\r\n", b"ok 203.0.113.99:80\n")
        self.assertEqual(r["connections"], 0)
        self.assertGreater(r["failed"], 0)
        self.assertIn("unexpected answer through the tunnel", r["first_error"])


if __name__ == "__main__":
    unittest.main()
