#!/usr/bin/env python3
"""Real clients through the redirect: curl to an HTTP server, socat to an echo server.

curl fetches http://203.0.113.10/ and http://[2001:db8:2::10]/ and gets the body; the HTTP server
saw the request line and Host header; curl to a denied destination fails (reset / empty reply)
with nothing upstream. socat pipes a line to an echo server over IPv4 and IPv6.
"""

import os
import shutil
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import audit  # noqa: E402
import harness  # noqa: E402
from policies import LAB  # noqa: E402

BODY = "hello from the internet namespace\n"


def run(t: harness.Case) -> None:
    for tool in ("curl", "socat"):
        t.require(shutil.which(tool) is not None, f"{tool} installed (make deps)")
    http = t.upstream("http", ["203.0.113.10:80", "[2001:db8:2::10]:80", "203.0.113.66:80"])
    echo = t.upstream("echo", ["203.0.113.10:7", "[2001:db8:2::10]:7"])
    gw = t.egressd(LAB)

    for url, host in (("http://203.0.113.10/", "203.0.113.10"), ("http://[2001:db8:2::10]/", "[2001:db8:2::10]")):
        p = t.sb.client_exec(["curl", "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", url])
        out = p.stdout
        t.check_eq(p.returncode, 0, f"curl {url}: exit 0", p.stderr)
        t.check_eq(out, BODY + "\n200", f"curl {url}: body and status 200")
        dec = t.check_record(gw, f"curl {url}: allow decision", event="connection.decision",
                             dst=f"{host}:80", decision="allow", rule="clients-to-lab")
        seen = [c for c in http.wait_closes(1) if c["local"] == f"{host}:80"]
        close = dec and t.check_record(gw, f"curl {url}: close record", event="connection.close",
                                       conn_id=dec.get("conn_id"))
        if close and seen:
            t.check_eq((audit.bytes_up(close), audit.bytes_down(close)),
                       (seen[-1]["bytes_in"], seen[-1]["bytes_out"]),
                       f"curl {url}: close record bytes = what the HTTP server read and wrote")
    heads = [c["head"] for c in http.wait_closes(2)]
    t.check(any(h.startswith("GET / HTTP/1.1\r\n") and "Host: 203.0.113.10\r\n" in h for h in heads),
            "the HTTP server saw curl's request for 203.0.113.10", str(heads))

    p = t.sb.client_exec(["curl", "-sS", "--max-time", "10", "http://203.0.113.66/"])
    # 56: reset while reading; 52: empty reply; 7: the reset came before connect() returned.
    t.check(p.returncode in (7, 52, 56), "curl to a denied destination fails (reset / empty reply)",
            f"exit {p.returncode}: {p.stderr.strip()}")
    t.check_eq(p.stdout, "", "curl to a denied destination prints nothing")
    t.check_eq([c["local"] for c in http.accepts()].count("203.0.113.66:80"), 0,
               "no connection reached 203.0.113.66")
    t.check_record(gw, "curl to 203.0.113.66: deny by rule", event="connection.decision",
                   dst="203.0.113.66:80", decision="deny", rule="deny-blocklist")

    for addr in ("TCP4:203.0.113.10:7", "TCP6:[2001:db8:2::10]:7"):
        p = t.sb.client_exec(["socat", "-t", "5", "-", addr], input="socat says hi\n")
        t.check_eq((p.returncode, p.stdout), (0, "socat says hi\n"), f"socat {addr}: echo", p.stderr)
        dst = addr.split(":", 1)[1]
        t.check_record(gw, f"socat {addr}: close record, 14 bytes each way", event="connection.close",
                       dst=dst, bytes_up=14, bytes_down=14, reason="eof")
    t.check_eq(len(echo.wait_closes(2)), 2, "the echo server saw both socat connections")


harness.main(run)
