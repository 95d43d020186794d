#!/usr/bin/env python3
"""/metrics serves the standard process metrics and egressd_build_info; the operational log in
JSON with debug statements where an operator looks (issue 22).

egressd runs with `--log-format json --log-level debug`.
* /metrics parses strictly and has process_cpu_seconds_total (counter),
  process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds, process_max_fds
  and process_start_time_seconds (gauges), matching what the kernel says about egressd's pid:
  start time = /proc/stat btime + starttime ticks (to 10 ms), max fds = the hard RLIMIT_NOFILE
  (egressd raises its soft limit to it), open fds and RSS close to /proc/<pid>; and
  egressd_build_info{version, commit} 1 equal to `egressd --version`.
* Every stderr line is a JSON object; debug lines say the audit file was opened, which policy
  files were read from where; after SIGHUP, the files read again and the policy running after the
  reload; after SIGUSR1, the audit file reopened.
"""

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402
import observe  # noqa: E402
from policies import ALLOW_LAB, LAB  # noqa: E402

PROCESS = {
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_start_time_seconds": "gauge",
}


def egressd_pid(t: harness.Case, gw) -> int:
    pid = gw.proc.popen.pid  # `ip netns exec` execs the command in place
    with open(f"/proc/{pid}/comm") as f:
        comm = f.read().strip()
    t.require(comm == "egressd", "the spawned pid is egressd", comm)
    return pid


def kernel_view(pid: int) -> dict:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    with open("/proc/stat") as f:
        btime = int(next(line for line in f if line.startswith("btime ")).split()[1])
    ticks = os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/status") as f:
        rss_kib = int(next(line for line in f if line.startswith("VmRSS:")).split()[1])
    return {"start": btime + int(fields[22 - 3]) / ticks, "vsize": int(fields[23 - 3]),
            "rss": rss_kib * 1024, "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def json_log(t: harness.Case, text: str) -> list[dict]:
    out, bad = [], []
    for line in text.split("\n"):
        if not line:
            continue
        try:
            o = json.loads(line)
            if set(o) != {"time", "level", "logger", "message"}:
                bad.append(line)
            out.append(o)
        except json.JSONDecodeError:
            bad.append(line)
    t.check(not bad, "every stderr line is one JSON object with time, level, logger, message",
            str(bad[:3]))
    return out


def wait_debug(t: harness.Case, gw, pattern: str, count: int = 1) -> list[str]:
    deadline = time.monotonic() + 5
    while True:
        found = [r["message"] for r in json_log_quiet(gw.stderr())
                 if r.get("level") == "debug" and re.search(pattern, r.get("message", ""))]
        if len(found) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    t.check(len(found) >= count, f"debug: {count} x /{pattern}/", str(found))
    return found


def json_log_quiet(text: str) -> list[dict]:
    out = []
    for line in text.split("\n"):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def run(t: harness.Case) -> None:
    t.upstream("echo", ["203.0.113.10:7"])
    before = time.time()
    gw = t.egressd({"10-lab.yaml": LAB},
                   extra_args=["--log-format", "json", "--log-level", "debug"])
    r = t.client("--dst", "203.0.113.10:7", "--send", "hi\n", "--shutdown", "--timeout", "5")
    t.check_eq(r["recv"], "hi\n", "traffic flows")
    pid = egressd_pid(t, gw)

    samples, types, errors = observe.scrape(t.sb)
    kernel = kernel_view(pid)
    t.check(not errors, "/metrics is strict Prometheus text", str(errors[:5]))
    for name, typ in PROCESS.items():
        t.check(observe.has(samples, name), f"{name} present")
        t.check_eq(types.get(name), typ, f"{name} TYPE")
    v = {name: observe.value(samples, name) for name in PROCESS}
    t.check(abs(v["process_start_time_seconds"] - kernel["start"]) < 0.02,
            "process_start_time_seconds = btime + starttime",
            f"{v['process_start_time_seconds']} vs {kernel['start']}")
    t.check(before - 2 <= v["process_start_time_seconds"] <= time.time(),
            "the start time is when the test started egressd",
            f"{v['process_start_time_seconds']} not in [{before}, now]")
    t.check_eq(v["process_max_fds"], float(resource.getrlimit(resource.RLIMIT_NOFILE)[1]),
               "process_max_fds = the hard RLIMIT_NOFILE egressd raised its soft limit to")
    t.check(abs(v["process_open_fds"] - kernel["fds"]) <= 3,
            "process_open_fds close to /proc/<pid>/fd", f"{v['process_open_fds']} vs {kernel['fds']}")
    t.check(v["process_open_fds"] >= 5, "egressd has its listeners, audit file and admin socket open",
            str(v["process_open_fds"]))
    t.check(0.5 * kernel["rss"] <= v["process_resident_memory_bytes"] <= 2 * kernel["rss"],
            "process_resident_memory_bytes close to VmRSS",
            f"{v['process_resident_memory_bytes']} vs {kernel['rss']}")
    t.check(v["process_virtual_memory_bytes"] >= v["process_resident_memory_bytes"],
            "virtual >= resident", str(v))
    t.check(v["process_cpu_seconds_total"] >= 0, "process_cpu_seconds_total", str(v))

    version = subprocess.run([t.args.egressd, "--version"], capture_output=True, text=True).stdout
    m = re.match(r"egressd (\S+) \(commit (\S+)\)", version)
    t.require(m is not None, "egressd --version names the version and commit", version)
    info = [(lab, val) for n, lab, val in samples if n == "egressd_build_info"]
    t.check_eq(info, [({"version": m.group(1), "commit": m.group(2)}, 1.0)],
               "egressd_build_info{version, commit} 1 as --version says")
    t.check_eq(types.get("egressd_build_info"), "gauge", "egressd_build_info TYPE")

    # The operational log: JSON, and debug where an operator looks.
    json_log(t, gw.stderr())
    wait_debug(t, gw, rf"^audit: opened {re.escape(str(gw.audit_path))} \(a new chain; regular file\)$")
    policy_dir = re.escape(str(gw.policy_dir))
    wait_debug(t, gw, rf"^policy: reading {policy_dir}: 10-lab\.yaml$")
    (gw.policy_dir / "20-more.yaml").write_text(ALLOW_LAB.replace("clients-to-lab", "more-lab"))
    gw.reload()
    wait_debug(t, gw, rf"^policy: reading {policy_dir}: 10-lab\.yaml, 20-more\.yaml$")
    wait_debug(t, gw, rf"^reload: policy [0-9a-f]{{64}}\S* running from {policy_dir} \(\d+ rules\)$")
    gw.proc.signal(signal.SIGUSR1)
    wait_debug(t, gw, rf"^audit: reopened {re.escape(str(gw.audit_path))}: ")
    json_log(t, gw.stderr())


harness.main(run)
