#!/usr/bin/env python3
"""deploy/kubernetes/agent-gateway (issue 20): the agent's tunnel reaches the gateway's CONNECT
listener. The agent's upstream.via names the gateway Service's port whose target is the gateway's
`destination: connect` listener (mTLS required), and a server_name the gateway's certificate
(cert-manager/) carries; both certificates come from one issuer, the agent's for client auth; the
Secrets the pods mount are the ones issued; agents never run on the gateways' nodes (their redirect
would capture the gateways' own upstream connections and send them back to a gateway); the
commented-out proxy_protocol block is a valid listener key when uncommented. The checks
common to every variant (references, ports, the redirect and the mark, security contexts,
--check-config of both configs) are in test_kubernetes.py."""

from __future__ import annotations

import ipaddress
import re
import sys
import unittest
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploylib import config_key_errors, port_of  # noqa: E402
from test_kubernetes import (CERT_MANAGER, VARIANTS, container, kustomize,  # noqa: E402
                             pod_config, pod_config_text, pod_specs)


class AgentGatewayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.objects, _ = kustomize(VARIANTS["agent-gateway"])
        pods = {w["kind"]: (w, p) for w, p in pod_specs(cls.objects)}
        cls.gateway, cls.gateway_pod = pods["Deployment"]
        cls.agent, cls.agent_pod = pods["DaemonSet"]
        cls.gateway_config = pod_config(cls.objects, cls.gateway_pod)
        cls.agent_config = pod_config(cls.objects, cls.agent_pod)
        cls.service = next(o for o in cls.objects if o["kind"] == "Service")
        cls.namespace = next(o for o in cls.objects if o["kind"] == "Namespace")["metadata"]["name"]
        cls.certificates = {o["metadata"]["name"]: o for o in kustomize(CERT_MANAGER)[0]}

    def connect_listener(self) -> dict:
        (listener,) = [x for x in self.gateway_config["listeners"] if x.get("destination") == "connect"]
        return listener

    def test_gateway_listens_for_connect_inside_mtls(self) -> None:
        self.assertEqual([x.get("destination") for x in self.gateway_config["listeners"]], ["connect"])
        listener = self.connect_listener()
        self.assertEqual(port_of(listener["address"]), 15443)
        self.assertEqual(listener["tls"]["mode"], "required")
        self.assertIn("connect_request_timeout", listener)
        self.assertNotIn("via", self.gateway_config["upstream"])
        self.assertIn("dir", self.gateway_config["policy"], "the gateway decides")

    def test_commented_proxy_protocol_is_valid_when_uncommented(self) -> None:
        """The gateway config shows, commented out, what to add behind a balancer that sends
        PROXY v2: uncommented, it must be a valid listener key with CIDRs."""
        text = pod_config_text(self.objects, self.gateway_pod)
        uncommented, n = re.subn(r"(?m)^(\s*)# (proxy_protocol:|  trusted:)", r"\1\2", text)
        self.assertEqual(n, 2, "the commented proxy_protocol block")
        config = yaml.safe_load(uncommented)
        self.assertEqual(config_key_errors(config), [])
        (listener,) = config["listeners"]
        for cidr in listener["proxy_protocol"]["trusted"]:
            ipaddress.ip_network(cidr)  # strict: host bits refused, as egressd does

    def test_agent_via_names_the_gateway_service_port(self) -> None:
        via = self.agent_config["upstream"]["via"]
        self.assertEqual(via["tunnel"], "connect")
        host, port = via["address"].rsplit(":", 1)
        svc = f"{self.service['metadata']['name']}.{self.namespace}.svc"
        self.assertIn(host, (svc, svc + ".cluster.local"))
        (sport,) = [p for p in self.service["spec"]["ports"] if p["port"] == int(port)]
        gateway_ports = {p["name"]: p["containerPort"]
                         for p in container(self.gateway_pod, "egressd")["ports"]}
        self.assertEqual(gateway_ports[sport["targetPort"]], port_of(self.connect_listener()["address"]))
        self.assertEqual([listener.get("destination", "original_dst")
                          for listener in self.agent_config["listeners"]], ["original_dst"])

    def test_certificates_fit_both_ends(self) -> None:
        """The Secrets the pods mount are the ones cert-manager/ issues; the gateway's certificate
        carries the agents' server_name and serves, the agents' certificate is a client one, and
        both come from one issuer (each side's ca.crt verifies the other)."""
        secrets = {}
        for name, pod in (("gateway", self.gateway_pod), ("agent", self.agent_pod)):
            (tls,) = [v for v in pod["spec"]["volumes"] if "secret" in v]
            secrets[name] = tls["secret"]["secretName"]
        by_secret = {c["spec"]["secretName"]: c for c in self.certificates.values()}
        self.assertEqual(set(by_secret), set(secrets.values()))
        gateway_cert = by_secret[secrets["gateway"]]
        agent_cert = by_secret[secrets["agent"]]
        self.assertIn(self.agent_config["upstream"]["via"]["tls"]["server_name"], gateway_cert["spec"]["dnsNames"])
        self.assertIn("server auth", gateway_cert["spec"]["usages"])
        self.assertIn("client auth", agent_cert["spec"]["usages"])
        self.assertEqual(gateway_cert["spec"]["issuerRef"], agent_cert["spec"]["issuerRef"])
        self.assertTrue(agent_cert["spec"].get("uris"), "a SPIFFE ID for the gateway's policy")

    def test_agents_never_run_on_gateway_nodes(self) -> None:
        selector = self.gateway_pod["spec"]["nodeSelector"]
        self.assertTrue(selector)
        terms = (self.agent_pod["spec"]["affinity"]["nodeAffinity"]
                 ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"])
        self.assertTrue(terms)
        for term in terms:  # terms are ORed: each one must exclude the gateway nodes
            excluded = any(e["key"] == k and ((e["operator"] == "NotIn" and v in e["values"])
                                             or e["operator"] == "DoesNotExist")
                           for k, v in selector.items() for e in term.get("matchExpressions", []))
            self.assertTrue(excluded, term)
        # The gateways tolerate their nodes' taint, and nothing else selects those nodes.
        self.assertTrue(any(t.get("key") in selector for t in self.gateway_pod["spec"]["tolerations"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
