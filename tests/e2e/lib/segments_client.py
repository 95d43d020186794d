#!/usr/bin/env python3
"""A TCP client that writes given bytes in given pieces; run inside the client namespace.

    segments_client.py PLAN.json

PLAN: {"dst": "203.0.113.10:443", "steps": [STEP, ...], "timeout": 5}. A STEP is
{"hex": "...", "piece": N, "gap": S} (write the bytes N at a time with TCP_NODELAY, S seconds
apart; default: at once), {"expect": N} (read until N bytes in all have arrived: the upstream's
echo of what went before) or {"sleep": S}. After the last step the client half-closes (unless
"shutdown": false) and reads to the end. Prints one JSON object like client.py's: "connected",
"local", "sent", "recv_len", "recv_hex" (first 64 KiB), "end" (eof | reset | timeout | error: ..),
"end_s", "expect_s" (when each expect was met, seconds after connect; null if never), "send_error".
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time


def _local(s: socket.socket) -> str | None:
    try:
        lhost, lport = s.getsockname()[:2]
    except OSError:
        return None
    return f"[{lhost}]:{lport}" if ":" in lhost else f"{lhost}:{lport}"


def main() -> int:
    plan = json.loads(open(sys.argv[1]).read())
    host, _, port = plan["dst"].rpartition(":")
    host = host.strip("[]")
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(plan.get("timeout", 5))
    res = {"dst": plan["dst"], "connected": False, "sent": 0, "recv_len": 0, "recv_hex": "",
           "end": None, "expect_s": [], "send_error": None}
    t0 = time.monotonic()
    try:
        s.connect((host, int(port)))
    except ConnectionResetError:
        # Accepted, then reset before connect() returned (a gateway denying at once).
        res.update(connected=True, end="reset", end_s=round(time.monotonic() - t0, 6))
        res["local"] = _local(s)
        print(json.dumps(res))
        return 0
    except OSError as e:
        res["connect_error"] = e.strerror or type(e).__name__
        print(json.dumps(res))
        return 0
    res["connected"] = True
    res["local"] = _local(s)
    got = bytearray()
    cond = threading.Condition()

    def reader() -> None:
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    res["end"] = "eof"
                    break
                with cond:
                    got.extend(chunk)
                    cond.notify_all()
        except ConnectionResetError:
            res["end"] = "reset"
        except socket.timeout:
            res["end"] = "timeout"
        except OSError as e:
            res["end"] = f"error: {e.strerror or e}"
        res["end_s"] = round(time.monotonic() - t0, 6)
        with cond:
            cond.notify_all()

    th = threading.Thread(target=reader)
    th.start()
    try:
        for step in plan["steps"]:
            if "hex" in step:
                data = bytes.fromhex(step["hex"])
                piece = step.get("piece") or len(data) or 1
                for i in range(0, len(data), piece):
                    if i and step.get("gap"):
                        time.sleep(step["gap"])
                    s.sendall(data[i:i + piece])
                    res["sent"] += len(data[i:i + piece])
            elif "expect" in step:
                deadline = time.monotonic() + plan.get("timeout", 5)
                with cond:
                    while len(got) < step["expect"] and res["end"] is None and time.monotonic() < deadline:
                        cond.wait(0.05)
                    met = len(got) >= step["expect"]
                res["expect_s"].append(round(time.monotonic() - t0, 6) if met else None)
                if not met:
                    break
            elif "sleep" in step:
                time.sleep(step["sleep"])
        if plan.get("shutdown", True):
            s.shutdown(socket.SHUT_WR)
    except OSError as e:
        res["send_error"] = f"{type(e).__name__}: {e}"
    th.join()
    s.close()
    res["recv_len"] = len(got)
    res["recv_hex"] = bytes(got[:65536]).hex()
    res["elapsed_s"] = round(time.monotonic() - t0, 6)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
