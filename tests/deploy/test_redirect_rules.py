#!/usr/bin/env python3
"""scripts/redirect-rules.sh, tested for real inside network namespaces this test creates.

The sandbox of tests/e2e (namespaces client, gateway, internet; briefs' addressing contract) is built
with no redirect of its own; the script under test installs its rules in the gateway namespace.
socat stands in for egressd: on the redirect port it answers "gateway <its local address>", the
upstream servers in the internet namespace answer "upstream <their address>", so each probe shows
whether a connection was redirected and, for TPROXY, that the original destination survived.

Every mode (redirect with the OUTPUT hook, redirect with the PREROUTING hook, tproxy), IPv4 and
IPv6; install twice = the same rules; remove = exactly the rules that were there before (foreign
rules included); --dry-run prints and changes nothing; bad arguments exit 2 with a message.
Needs root (CAP_NET_ADMIN, ip netns); exits 77 (skipped) otherwise.
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SCRIPT = ROOT / "scripts" / "redirect-rules.sh"
PROBE = HERE / "probe.py"
sys.path.insert(0, str(ROOT / "tests" / "e2e" / "lib"))

from sandbox import Sandbox  # noqa: E402  (tests/e2e/lib/sandbox.py)

UP4, UP4_OTHER = "203.0.113.10", "203.0.113.20"
UP6, UP6_OTHER = "2001:db8:2::10", "2001:db8:2::20"
REDIRECT_PORT, TPROXY_PORT = 15001, 15002
GATEWAY_UID = 12345  # no passwd entry needed: the script takes the number
GATEWAY_MARK = 0x10
FOREIGN = {  # rules someone else owns; install and remove must leave them exactly as they are
    ("nat", "OUTPUT"): ["-p", "udp", "--dport", "53", "-j", "RETURN"],
    ("nat", "PREROUTING"): ["-p", "udp", "--dport", "53", "-j", "RETURN"],
    ("mangle", "PREROUTING"): ["-p", "udp", "--dport", "53", "-j", "RETURN"],
}


def normalise_save(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        lines.append(re.sub(r"\[\d+:\d+\]", "[]", line))
    return "\n".join(lines)


class RedirectRulesTest(unittest.TestCase):
    def setUp(self) -> None:
        self.sb = Sandbox(mode="none", watchdog_s=120)
        self.sb.__enter__()
        self.addCleanup(self.sb.__exit__, None, None, None)
        sb = self.sb
        for tool in ("iptables", "ip6tables"):
            for (table, chain), spec in FOREIGN.items():
                sb.exec(sb.gateway, [tool, "-w", "-t", table, "-A", chain, *spec])
            sb.exec(sb.gateway, [tool, "-w", "-t", "nat", "-N", "SOMEONE-ELSE"])
        sb.ip(sb.gateway, "-4", "rule", "add", "fwmark", "0x99", "lookup", "99")
        echo = "SYSTEM:echo {} $SOCAT_SOCKADDR"
        for port in (80, 8080):
            for addr in ("TCP4-LISTEN:{p},fork,reuseaddr", "TCP6-LISTEN:{p},ipv6only=1,fork,reuseaddr"):
                sb.spawn(sb.internet, f"upstream-{port}-{addr[:4]}",
                         ["socat", addr.format(p=port), echo.format("upstream")])
            sb.wait_listening(sb.internet, port)
        for port, extra in ((REDIRECT_PORT, ""), (TPROXY_PORT, ",transparent")):
            for addr in ("TCP4-LISTEN:{p},fork,reuseaddr", "TCP6-LISTEN:{p},ipv6only=1,fork,reuseaddr"):
                sb.spawn(sb.gateway, f"gateway-{port}-{addr[:4]}",
                         ["socat", addr.format(p=port) + extra, echo.format("gateway")])
            sb.wait_listening(sb.gateway, port)
        self.pristine = self.state()

    # ------------------------------------------------------------------ helpers

    def script(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = self.sb.exec(self.sb.gateway, [str(SCRIPT), *args], check=False)
        if check and p.returncode != 0:
            self.fail(f"redirect-rules.sh {' '.join(args)} exited {p.returncode}:\n{p.stderr}")
        return p

    def state(self) -> str:
        """Every rule, chain, ip rule and TPROXY route of the gateway namespace."""
        sb = self.sb
        parts = []
        for tool in ("iptables-save", "ip6tables-save"):
            parts.append(normalise_save(sb.exec(sb.gateway, [tool]).stdout))
        for fam in ("-4", "-6"):
            parts.append(sb.ip(sb.gateway, fam, "rule", "show").stdout)
            routes = sb.ip(sb.gateway, fam, "route", "show", "table", "all").stdout.splitlines()
            parts.append("\n".join(r for r in routes if "table 100" in r))
        return "\n----\n".join(parts)

    def probe(self, ns: str, host: str, port: int = 80, uid: int | None = None,
              mark: int | None = None) -> str:
        argv = [sys.executable, str(PROBE), host, str(port)]
        if uid is not None:
            argv += ["--uid", str(uid)]
        if mark is not None:
            argv += ["--mark", hex(mark)]
        out = self.sb.exec(ns, argv, check=False).stdout.strip()
        # socat prints IPv6 addresses in full, bracketed: canonicalise for the assertions.
        m = re.fullmatch(r"(\w+) \[([0-9a-f:]+)\]", out)
        return f"{m.group(1)} {ipaddress.ip_address(m.group(2))}" if m else out

    def assert_idempotent_and_removable(self, *install_args: str) -> None:
        installed = self.state()
        self.assertNotEqual(installed, self.pristine, "install changed nothing")
        self.script("install", *install_args)
        self.assertEqual(self.state(), installed, "a second install changed the rules")
        self.script("remove")
        self.assertEqual(self.state(), self.pristine, "remove left something behind")
        self.script("remove")
        self.assertEqual(self.state(), self.pristine, "a second remove changed something")

    # ------------------------------------------------------------------ modes

    def test_redirect_output_redirects_local_connections_but_not_the_gateways_own(self) -> None:
        sb = self.sb
        args = ["--mode", "redirect", "--hook", "output", "--exclude-uid", str(GATEWAY_UID),
                "--exclude-mark", hex(GATEWAY_MARK)]
        self.script("install", *args)
        self.assertEqual(self.probe(sb.gateway, UP4), "gateway 127.0.0.1")
        self.assertRegex(self.probe(sb.gateway, UP6), r"^gateway ::1$")
        for host in (UP4, UP6):
            self.assertIn("upstream", self.probe(sb.gateway, host, uid=GATEWAY_UID), "excluded uid")
            self.assertIn("upstream", self.probe(sb.gateway, host, mark=GATEWAY_MARK), "excluded mark")
            self.assertIn("upstream", self.probe(sb.client, host), "routed traffic is not OUTPUT's")
        # Another uid and another mark are redirected: the exclusions are that uid and that mark.
        self.assertEqual(self.probe(sb.gateway, UP4, uid=GATEWAY_UID + 1), "gateway 127.0.0.1")
        self.assertEqual(self.probe(sb.gateway, UP4, mark=0x20), "gateway 127.0.0.1")
        # Local destinations (the gateway's own sockets) are never redirected.
        self.assertEqual(self.probe(sb.gateway, "127.0.0.1", REDIRECT_PORT), "gateway 127.0.0.1")
        # ... but the gateway's port on another host is no way around the gateway.
        self.assertEqual(self.probe(sb.gateway, UP4, REDIRECT_PORT), "gateway 127.0.0.1")
        self.assertEqual(self.probe(sb.gateway, UP4, 9901), "gateway 127.0.0.1")
        shown = self.script("show").stdout
        self.assertIn("-A OUTPUT -p tcp -m comment --comment egressd-redirect -j EGRESSD-OUTPUT", shown)
        self.assertIn(f"-A EGRESSD-OUTPUT -m owner --uid-owner {GATEWAY_UID} -j RETURN", shown)
        self.assertIn(f"-A EGRESSD-DIVERT -p tcp -j REDIRECT --to-ports {REDIRECT_PORT}", shown)
        self.assert_idempotent_and_removable(*args)
        self.assertIn("upstream", self.probe(sb.gateway, UP4))

    def test_redirect_prerouting_redirects_routed_connections(self) -> None:
        sb = self.sb
        args = ["--mode", "redirect", "--hook", "prerouting", "--in-interface", "to-client",
                "--exclude-cidr", f"{UP4_OTHER}/32,{UP6_OTHER}/128", "--exclude-port", "8080"]
        self.script("install", *args)
        self.assertEqual(self.probe(sb.client, UP4), "gateway 192.0.2.1")
        self.assertRegex(self.probe(sb.client, UP6), r"^gateway 2001:db8:1::1$")
        for host in (UP4_OTHER, UP6_OTHER):
            self.assertEqual(self.probe(sb.client, host), f"upstream {host}", "excluded CIDR")
        for host in (UP4, UP6):
            self.assertIn("upstream", self.probe(sb.client, host, 8080), "excluded port")
            self.assertIn("upstream", self.probe(sb.gateway, host), "the gateway's own connection")
        # The chokepoint's own address (addrtype LOCAL) is not egress: not redirected.
        self.assertEqual(self.probe(sb.client, "192.0.2.1", REDIRECT_PORT), "gateway 192.0.2.1")
        self.assertEqual(self.probe(sb.client, UP4, 9901), "gateway 192.0.2.1", "no port bypass")
        self.assert_idempotent_and_removable(*args)
        self.assertIn("upstream", self.probe(sb.client, UP4))

    def test_tproxy_keeps_the_original_destination(self) -> None:
        sb = self.sb
        args = ["--mode", "tproxy", "--port", str(TPROXY_PORT), "--in-interface", "to-client",
                "--exclude-mark", hex(GATEWAY_MARK)]
        self.script("install", *args)
        # The transparent socket's local address is where the client meant to go.
        self.assertEqual(self.probe(sb.client, UP4), f"gateway {UP4}")
        self.assertRegex(self.probe(sb.client, UP6), rf"^gateway {UP6}$")
        self.assertRegex(self.probe(sb.client, UP6_OTHER, 8080), rf"^gateway {UP6_OTHER}$")
        for host in (UP4, UP6):
            self.assertIn("upstream", self.probe(sb.gateway, host, mark=GATEWAY_MARK), "gateway's mark")
        for fam in ("-4", "-6"):
            self.assertIn("fwmark 0x1/0x1 lookup 100", sb.ip(sb.gateway, fam, "rule", "show").stdout)
            self.assertIn("local default dev lo",
                          sb.ip(sb.gateway, fam, "route", "show", "table", "100").stdout)
        self.assert_idempotent_and_removable(*args)
        self.assertIn("upstream", self.probe(sb.client, UP4))
        self.assertIn("fwmark 0x99 lookup 99", sb.ip(sb.gateway, "-4", "rule", "show").stdout)

    def test_include_cidrs_and_ports_limit_what_is_redirected(self) -> None:
        sb = self.sb
        args = ["--hook", "prerouting", "--include-cidr", f"{UP4}/32", "--include-port", "80,443"]
        p = self.script("install", *args)
        self.assertIn("--include-cidr names no IPv6 CIDR", p.stderr)
        self.assertEqual(self.probe(sb.client, UP4), "gateway 192.0.2.1")
        self.assertIn("upstream", self.probe(sb.client, UP4, 8080), "port not included")
        self.assertIn("upstream", self.probe(sb.client, UP4_OTHER), "CIDR not included")
        self.assertIn("upstream", self.probe(sb.client, UP6), "no IPv6 CIDR included")
        self.assert_idempotent_and_removable(*args)

    def test_family_4_only_and_hook_both(self) -> None:
        sb = self.sb
        self.script("install", "--family", "4", "--hook", "both", "--exclude-uid", str(GATEWAY_UID))
        self.assertEqual(self.probe(sb.client, UP4), "gateway 192.0.2.1")
        self.assertEqual(self.probe(sb.gateway, UP4), "gateway 127.0.0.1")
        self.assertIn("upstream", self.probe(sb.client, UP6))
        self.assertIn("upstream", self.probe(sb.gateway, UP6))
        self.assertNotIn("EGRESSD", sb.exec(sb.gateway, ["ip6tables-save"]).stdout)
        self.assert_idempotent_and_removable("--family", "4", "--hook", "both",
                                             "--exclude-uid", str(GATEWAY_UID))

    def test_install_with_other_options_replaces_the_old_rules(self) -> None:
        sb = self.sb
        self.script("install", "--hook", "output", "--exclude-uid", str(GATEWAY_UID))
        self.script("install", "--mode", "tproxy", "--port", str(TPROXY_PORT),
                    "--in-interface", "to-client")
        self.assertEqual(self.probe(sb.gateway, UP4), f"upstream {UP4}", "the OUTPUT redirect stayed")
        self.assertEqual(self.probe(sb.client, UP4), f"gateway {UP4}")
        for tool in ("iptables-save", "ip6tables-save"):
            self.assertNotIn("EGRESSD", sb.exec(sb.gateway, [tool, "-t", "nat"]).stdout)
        self.script("install", "--hook", "prerouting")
        self.assertEqual(self.probe(sb.client, UP4), "gateway 192.0.2.1")
        self.assertNotIn("lookup 100", sb.ip(sb.gateway, "-4", "rule", "show").stdout)
        self.script("remove")
        self.assertEqual(self.state(), self.pristine)

    def test_jumps_come_first_in_the_builtin_chains(self) -> None:
        sb = self.sb
        self.script("install", "--hook", "both", "--exclude-mark", hex(GATEWAY_MARK))
        rules = sb.exec(sb.gateway, ["iptables", "-t", "nat", "-S", "OUTPUT"]).stdout.splitlines()
        self.assertEqual(rules[1], "-A OUTPUT -p tcp -m comment --comment egressd-redirect -j EGRESSD-OUTPUT")
        self.assertEqual(rules[2], "-A OUTPUT -p udp -m udp --dport 53 -j RETURN")

    def test_dry_run_prints_and_changes_nothing(self) -> None:
        cases = [
            (["--exclude-uid", str(GATEWAY_UID)], f"-A EGRESSD-DIVERT -p tcp -j REDIRECT --to-ports {REDIRECT_PORT}"),
            (["--hook", "prerouting"], "-I PREROUTING 1 -p tcp -m comment --comment egressd-redirect -j EGRESSD-PREROUTING"),
            (["--mode", "tproxy", "--port", str(TPROXY_PORT)], "ip -6 rule add fwmark 0x1/0x1 lookup 100"),
        ]
        for args, expected in cases:
            with self.subTest(args=args):
                p = self.script("install", "--dry-run", *args)
                self.assertIn(expected, p.stdout)
                self.assertIn("iptables-restore -w --noflush", p.stdout)
                self.assertEqual(self.state(), self.pristine)
        self.script("install", "--exclude-uid", str(GATEWAY_UID))
        installed = self.state()
        p = self.script("remove", "--dry-run")
        self.assertIn("-D OUTPUT -p tcp -m comment --comment egressd-redirect -j EGRESSD-OUTPUT", p.stdout)
        self.assertIn("-X EGRESSD-OUTPUT", p.stdout)
        self.assertEqual(self.state(), installed)

    def test_remove_when_nothing_is_installed(self) -> None:
        p = self.script("remove")
        self.assertEqual(p.stdout, "")
        self.assertEqual(self.state(), self.pristine)


class BadArgumentsTest(unittest.TestCase):
    """Every bad argument is refused before anything is touched (these run no iptables at all)."""

    CASES = [
        ([], "no command given"),
        (["install", "remove"], "more than one command"),
        (["instal"], "unknown command or argument 'instal'"),
        (["install", "--bogus", "1"], "unknown option '--bogus'"),
        (["install", "--port"], "--port needs a value"),
        (["install", "--port", "0", "--exclude-uid", "1"], "--port: '0' is not a port number"),
        (["install", "--port", "70000", "--exclude-uid", "1"], "--port: '70000' is not a port number"),
        (["install", "--mode", "nat"], "--mode: 'nat' is not redirect or tproxy"),
        (["install", "--family", "5"], "--family: '5' is not 4, 6 or both"),
        (["install", "--hook", "input"], "--hook: 'input' is not output, prerouting or both"),
        (["install", "--mode", "tproxy", "--hook", "output"], "intercepts routed traffic only"),
        (["install"], "give --exclude-uid (the gateway's user) and/or --exclude-mark"),
        (["install", "--exclude-uid", "no-such-user-here"], "is neither a uid nor a user"),
        (["install", "--exclude-mark", "0x1g"], "--exclude-mark: '0x1g' is not a mark"),
        (["install", "--exclude-mark", "0"], "mark 0 is every unmarked packet"),
        (["install", "--mode", "tproxy", "--exclude-mark", "0x1"], "matches --tproxy-mark 0x1/0x1"),
        (["install", "--mode", "tproxy", "--tproxy-mark", "0x3/0x1"], "sets bits outside its mask"),
        (["install", "--mode", "tproxy", "--tproxy-table", "254"], "is not a routing table number"),
        (["install", "--hook", "prerouting", "--exclude-cidr", "203.0.113.0/33"], "--exclude-cidr: '203.0.113.0/33'"),
        (["install", "--hook", "prerouting", "--include-cidr", "2001:db8:::1/64"], "--include-cidr: '2001:db8:::1/64'"),
        (["install", "--hook", "prerouting", "--include-cidr", "256.1.1.1"], "is not an IPv4 or IPv6 CIDR"),
        (["install", "--hook", "prerouting", "--exclude-port", "90-80"], "range '90-80' is empty"),
        (["install", "--hook", "prerouting", "--include-port", "80,,443"], "empty item"),
        (["install", "--exclude-uid", "1", "--in-interface", "eth0"], "--in-interface applies to routed traffic"),
        (["install", "--hook", "prerouting", "--in-interface", "bad name"], "is not an interface name"),
        (["install", "--hook", "prerouting", "--chain-prefix", "EGRESS-D"], "--chain-prefix"),
        (["install", "--hook", "prerouting", "--admin-port", "9901"], "unknown option '--admin-port'"),
        (["install", "--hook", "prerouting", "--backend", "xt"], "--backend: 'xt'"),
        (["install", "--dry-run=yes"], "--dry-run takes no value"),
    ]

    def test_bad_arguments_exit_2_with_a_message(self) -> None:
        for args, message in self.CASES:
            with self.subTest(args=args):
                p = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=30)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(message, p.stderr)
                self.assertTrue(p.stderr.startswith("redirect-rules.sh: error: "), p.stderr)
                self.assertEqual(p.stdout, "")

    def test_help(self) -> None:
        p = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertIn("Usage: scripts/redirect-rules.sh install|remove|show", p.stdout)
        self.assertIn("--exclude-uid", p.stdout)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("test_redirect_rules.py: needs root (network namespaces, iptables): skipped")
        sys.exit(77)
    unittest.main(verbosity=2)
