"""Policies the end-to-end cases run with (the format of DESIGN.md, "Policy: YAML files in git").

LAB: the client subnets may reach the lab servers 203.0.113.0/24 and 2001:db8:2::/64 on a few
ports, except 203.0.113.99 and 2001:db8:2::99 (no rule: denied by default); 203.0.113.66 is denied
by rule `deny-blocklist` although `clients-to-lab` also matches it (deny rules come first);
203.0.113.13 and 2001:db8:2::13 are in Settings.deny_destinations, before any rule.
"""

# Ports the lab servers use: 7 echo, 9 sink, 19 half-close responder, 80 HTTP, 81 nobody.
PORT_ECHO, PORT_SINK, PORT_HALFCLOSE, PORT_HTTP, PORT_CLOSED = 7, 9, 19, 80, 81

SETTINGS = """\
kind: Settings
default: deny
mode: enforce
deny_destinations:
  - 203.0.113.13/32
  - "2001:db8:2::13/128"
"""

ROLE = """\
kind: Role
name: sandbox-clients
members:
  - source: 192.0.2.0/24
  - source: "2001:db8:1::/64"
"""


def lab_destination(ports: str = "[7, 9, 19, 80, 81]") -> str:
    return f"""\
kind: Destination
name: lab
cidrs: [203.0.113.0/24, "2001:db8:2::/64"]
except: [203.0.113.99/32, "2001:db8:2::99/128"]
ports: {ports}
"""


BLOCKLIST = """\
kind: Destination
name: blocklist
cidrs: [203.0.113.66/32]
"""

DENY_BLOCKLIST = """\
kind: Rule
id: deny-blocklist
action: deny
from: [{role: sandbox-clients}]
to: [{destination: blocklist}]
description: "known bad destination"
"""

ALLOW_LAB = """\
kind: Rule
id: clients-to-lab
action: allow
from: [{role: sandbox-clients}]
to: [{destination: lab}]
"""


def docs(*parts: str) -> str:
    return "---\n".join(parts)


LAB = docs(SETTINGS, ROLE, lab_destination(), BLOCKLIST, DENY_BLOCKLIST, ALLOW_LAB)
