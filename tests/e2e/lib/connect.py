"""The CONNECT listener cases' shared parts (issue 20, section 1): listeners, a raw CONNECT client,
curl through the proxy, an upstream TLS certificate, SYN counters, and the checks every answer
must pass.

    lst = connect.listener("connect", connect.PLAIN_PORT)            # destination: connect
    r = connect.request(t, {"proxy": connect.plain(), "target": "203.0.113.10:7", ...})
    connect.check_answer(t, r, 403, what)                             # status, headers, body, FIN
    c = connect.curl(t, "https://api.lab.example/", proxy="https://192.0.2.1:15443", ...)

The raw client is lib/connect_client.py (its PLAN keys are documented there). curl 7.88 shows a
refused CONNECT's status line and headers (`-v`) but not its body: the body is read with the raw
client.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import audit
from sandbox import GW_CLIENT_V4, GW_CLIENT_V6, IF_GW_CLIENT, LIB_DIR, PYTHON, Sandbox

TLS_PORT = 15443  # the mTLS CONNECT listener
PLAIN_PORT = 15080  # the plain-TCP CONNECT listener


def listener(name: str, port: int, tls: dict | None = None, request_timeout: str | None = None,
             peek_timeout: str = "1s") -> dict:
    """A `destination: connect` listener on [::]:port (tls: a tls_pki.tls_listener()'s "tls")."""
    lst = {"name": name, "address": f"[::]:{port}", "destination": "connect",
           "peek": {"timeout": peek_timeout, "max_bytes": "16KiB"}}
    if tls is not None:
        lst["tls"] = tls
    if request_timeout is not None:
        lst["connect_request_timeout"] = request_timeout
    return lst


def proxy(port: int, v6: bool = False) -> str:
    """The listener's address as the client reaches it ("192.0.2.1:port", "[2001:db8:1::1]:port")."""
    return f"[{GW_CLIENT_V6}]:{port}" if v6 else f"{GW_CLIENT_V4}:{port}"


def exempt(sb: Sandbox, *ports: int) -> None:
    """In a redirect-mode sandbox, lets connections to the gateway's own `ports` through the
    REDIRECT rule (inserted before it, in the gateway namespace): the client reaches the CONNECT
    listener itself, while everything else is still redirected to the transparent listener."""
    for tool, gw in (("iptables", GW_CLIENT_V4), ("ip6tables", GW_CLIENT_V6)):
        for port in ports:
            sb.exec(sb.gateway, [tool, "-w", "-t", "nat", "-I", "PREROUTING", "-i", IF_GW_CLIENT, "-d", gw,
                                 "-p", "tcp", "--dport", str(port), "-j", "RETURN"])


def server_cert(sb: Sandbox, name: str, dns: list[str], ips: list[str]) -> tuple[Path, Path]:
    """A self-signed P-256 server certificate (and key) for an upstream TLS server; the client
    trusts the certificate file itself."""
    pem, key = sb.dir / f"{name}.pem", sb.dir / f"{name}.key"
    san = ",".join([f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips])
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", f"/CN={dns[0] if dns else ips[0]}", "-addext", f"subjectAltName={san}",
                    "-keyout", str(key), "-out", str(pem)], check=True, capture_output=True, timeout=30)
    return pem, key


def tls_plan(pki: Path, cert: str | None = "payments") -> dict:
    """The raw client's "tls" for the mTLS listener: trusts the dev CA, presents `cert`."""
    out = {"ca": str(pki / "ca.pem"), "server_name": GW_CLIENT_V4}
    if cert:
        out.update(cert=str(pki / f"{cert}.pem"), key=str(pki / f"{cert}.key"))
    return out


def request(t, plan: dict, timeout: float = 5.0) -> dict:
    """Runs lib/connect_client.py with `plan` in the client namespace; its JSON result."""
    plan = dict(plan)
    plan.setdefault("timeout", timeout)
    path = t.sb.dir / f"connect-plan-{len(list(t.sb.dir.glob('connect-plan-*.json')))}.json"
    path.write_text(json.dumps(plan))
    wait = plan["timeout"] * 4 + 30 + plan.get("head_gap", 0) * len(plan.get("head_hex", "")) / 2
    p = t.sb.exec(t.sb.client, [PYTHON, str(LIB_DIR / "connect_client.py"), str(path)], check=False,
                  timeout=wait)
    if p.returncode != 0:
        raise RuntimeError(f"connect_client.py failed ({p.returncode}): {p.stderr[-2000:]}")
    return json.loads(p.stdout)


def head(target: str, host: str | None = None, extra: str = "", method: str = "CONNECT") -> bytes:
    """A request head: `METHOD target HTTP/1.1`, Host (the target unless given), `extra` lines."""
    return f"{method} {target} HTTP/1.1\r\nHost: {host or target}\r\n{extra}\r\n".encode()


def header(answer: dict | None, name: str) -> list[str]:
    """Every value of header `name` in a raw-client answer."""
    if not answer:
        return []
    return [v for k, v in answer["headers"] if k.lower() == name.lower()]


def brief(r: dict) -> str:
    return json.dumps({k: v for k, v in r.items() if k != "tunnel_hex"})[:1500]


def check_answer(t, r: dict, status: int, what: str) -> dict | None:
    """A refusal as the design says every one must look: the status, `Connection: close`,
    `Content-Type: text/plain`, a `Content-Length` equal to the one-line body, then the
    connection ends with a FIN (eof), not a reset that could discard the answer. Returns the answer."""
    ans = r.get("answer")
    if not t.check(ans is not None, f"{what}: an answer head came back", brief(r)):
        return None
    t.check_eq(ans["status"], status, f"{what}: status", ans["status_line"])
    t.check_eq(header(ans, "Connection"), ["close"], f"{what}: Connection: close")
    t.check_eq(header(ans, "Content-Type"), ["text/plain"], f"{what}: Content-Type: text/plain")
    body = ans["body"].encode()
    t.check_eq(header(ans, "Content-Length"), [str(len(body))], f"{what}: Content-Length is the body's",
               repr(ans["body"]))
    t.check(len(body) > 0 and body.endswith(b"\n") and body.count(b"\n") == 1,
            f"{what}: the body is one line", repr(ans["body"]))
    t.check_eq(r.get("end"), "eof", f"{what}: the gateway ends the connection with a FIN after the answer",
               brief(r))
    t.check_eq(r.get("tunnel_len"), 0, f"{what}: nothing after the answer")
    return ans


def decision(t, gw, r: dict, what: str, timeout: float = 5.0) -> dict:
    """The one connection.decision record of the connection `r` describes (by its source)."""
    t.require(bool(r.get("local")), f"{what}: the client connected", brief(r))
    found = gw.wait_records(timeout=timeout, event="connection.decision", src=r["local"])
    shown = "\n      ".join(audit.pretty(x) for x in gw.records()[-6:])
    t.require(len(found) == 1, f"{what}: one decision record", f"found {len(found)}:\n      {shown}")
    return found[0]


def close_record(t, gw, dec: dict, what: str, timeout: float = 5.0) -> dict | None:
    found = gw.wait_records(timeout=timeout, event="connection.close", conn_id=dec.get("conn_id"))
    t.check(len(found) == 1, f"{what}: one close record", str(found))
    return found[0] if found else None


def no_close_record(t, gw, dec: dict, what: str) -> None:
    closes = audit.matching(gw.records(), event="connection.close", conn_id=dec.get("conn_id"))
    t.check(not closes, f"{what}: no close record for a denied connection", str(closes[:1]))


# ------------------------------------------------------------------------------ SYN counters


def syn_counter(sb: Sandbox, ns: str, dst: str, port: int, chain: str = "INPUT") -> str:
    """Counts TCP SYNs to dst (an address or a prefix) port `port` in namespace `ns`'s `chain`
    (INPUT in the internet namespace: what reached a server address; OUTPUT in the gateway
    namespace: what egressd itself tried to dial). A rule without a target: it counts and lets the
    packet go on through the chain (a blackhole's DROP still applies). Returns the counter's tag."""
    tool = "ip6tables" if ":" in dst else "iptables"
    tag = f"syn {dst} {port}"
    sb.exec(ns, [tool, "-w", "-I", chain, "-d", dst, "-p", "tcp", "--dport", str(port), "--syn",
                 "-m", "comment", "--comment", tag])
    return tag


def syns(sb: Sandbox, ns: str, dst: str, port: int, chain: str = "INPUT") -> int:
    tool = "ip6tables" if ":" in dst else "iptables"
    tag = f"/* syn {dst} {port} */"
    out = sb.exec(ns, [tool, "-w", "-L", chain, "-v", "-x", "-n"]).stdout
    return sum(int(line.split()[0]) for line in out.splitlines() if tag in line)


# ------------------------------------------------------------------------------ curl


def curl(t, url: str, proxy_url: str, pki: Path | None = None, cert: str | None = "payments",
         cacert: Path | None = None, extra: list[str] | None = None, max_time: float = 10) -> dict:
    """curl in the client namespace through the CONNECT proxy `proxy_url`. With `pki`, the proxy
    is https: curl trusts the dev CA (--proxy-cacert) and presents `cert` (--proxy-cert/-key).
    `cacert` is what curl trusts for the upstream. Returns {"exit", "body" (stdout), "stderr",
    "info" (curl's -w %{json}: http_connect, local_ip, local_port, ...), "local" ("ip:port",
    the decision record's src), "connect_status", "connect_headers" (the CONNECT answer as
    `-v` shows it)}."""
    info_path = t.sb.dir / f"curl-{len(list(t.sb.dir.glob('curl-*.json')))}.json"
    argv = ["curl", "-sS", "-v", "--max-time", str(max_time), "--noproxy", "", "--proxy", proxy_url,
            "-w", "%{json}", "-o", "-"]
    if pki is not None:
        argv += ["--proxy-cacert", str(pki / "ca.pem")]
        if cert:
            argv += ["--proxy-cert", str(pki / f"{cert}.pem"), "--proxy-key", str(pki / f"{cert}.key")]
    if cacert is not None:
        argv += ["--cacert", str(cacert)]
    argv += (extra or []) + [url]
    # The body goes to stdout with the -w JSON after it; split on the JSON's known start.
    p = t.sb.client_exec(argv, timeout=max_time + 20)
    out = p.stdout
    cut = out.rfind('{"certs"')
    body, info = (out[:cut], json.loads(out[cut:])) if cut >= 0 else (out, {})
    info_path.write_text(json.dumps(info))
    status, headers, seen_connect = None, [], False
    for line in p.stderr.splitlines():
        if line.startswith("> CONNECT "):
            seen_connect = True
        elif seen_connect and status is None and line.startswith("< HTTP/"):
            parts = line[2:].split(" ", 2)
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        elif status is not None and line.startswith("< "):
            if not line[2:].strip():
                break
            name, _, value = line[2:].partition(":")
            headers.append([name.strip(), value.strip()])
    local = None
    if info.get("local_ip"):
        ip = info["local_ip"]
        local = f"[{ip}]:{info['local_port']}" if ":" in ip else f"{ip}:{info['local_port']}"
    return {"exit": p.returncode, "body": body, "stderr": p.stderr, "info": info, "local": local,
            "connect_status": status, "connect_headers": headers}


def curl_header(c: dict, name: str) -> list[str]:
    return [v for k, v in c["connect_headers"] if k.lower() == name.lower()]
