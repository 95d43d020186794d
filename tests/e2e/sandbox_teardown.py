#!/usr/bin/env python3
"""The sandbox cleans up on every exit path: normal exit, a failing case, SIGTERM, SIGINT, and
(through the next run's sweep) SIGKILL.

Each scenario runs a child process that builds a Sandbox and starts an upstream server in it; the
parent checks afterwards that the child's namespaces are gone and that the processes it started
are dead. Needs no egressd.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402
import sandbox  # noqa: E402

CHILD = r"""
import json, sys, time
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import gateway
from sandbox import Sandbox
how = sys.argv[2]
with Sandbox(watchdog_s=int(sys.argv[3])) as sb:
    up = gateway.start_upstream(sb, "echo", ["203.0.113.10:7"])
    print(json.dumps({"namespaces": sb.namespaces, "pids": [up.proc.pid], "dir": str(sb.dir)}), flush=True)
    if how == "fail":
        raise RuntimeError("a failing case")
    if how in ("wait", "watchdog"):
        time.sleep(120)
"""

failures = []


def check(cond, what, detail=""):
    print(("ok   - " if cond else "FAIL - ") + what + ("" if cond else f": {detail}"))
    if not cond:
        failures.append(what)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not open(f"/proc/{pid}/stat").read().split(") ")[1].startswith("Z")


def scenario(how, sig=None, watchdog=60):
    p = subprocess.Popen([sys.executable, "-c", CHILD, sandbox.LIB_DIR.as_posix(), how, str(watchdog)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    info = json.loads(p.stdout.readline())
    if sig is not None:
        time.sleep(0.2)
        p.send_signal(sig)
    try:
        p.wait(timeout=max(30, watchdog + 15))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    if sig == signal.SIGKILL:
        # A SIGKILLed run cannot clean up; the next Sandbox sweeps namespaces of dead pids.
        with sandbox.Sandbox():
            pass
    left = [ns for ns in info["namespaces"] if ns in sandbox.list_namespaces()]
    check(not left, f"{how}/{sig and signal.Signals(sig).name}: namespaces deleted", str(left))
    time.sleep(0.1)
    live = [pid for pid in info["pids"] if alive(pid)]
    check(not live, f"{how}/{sig and signal.Signals(sig).name}: started processes killed", str(live))
    shutil.rmtree(info["dir"], ignore_errors=True)  # kept by the failing scenarios, for debugging
    return p.returncode


def main():
    why = harness.preflight()
    if why:
        print(f"SKIP sandbox_teardown: {why}")
        sys.exit(harness.SKIP)
    rc = scenario("ok")
    check(rc == 0, "normal exit: status 0", str(rc))
    rc = scenario("fail")
    check(rc != 0, "failing case: non-zero status", str(rc))
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL):
        scenario("wait", sig)
    rc = scenario("watchdog", watchdog=1)
    check(rc != 0, "watchdog: non-zero status", str(rc))
    print(("PASS" if not failures else "FAIL") + " sandbox_teardown")
    sys.exit(1 if failures else 0)


main()
