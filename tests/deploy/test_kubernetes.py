#!/usr/bin/env python3
"""deploy/kubernetes: every manifest parses (python3-yaml), every kustomization names files that
exist, and every reference resolves: ConfigMap names and keys (volumes, configMapKeyRef), volume
names, port names (probes, Service targetPort), the Service / PodDisruptionBudget selectors, the
Prometheus annotation, the --config file inside its mount, and the ports and exclusions of the
redirect init container (which is also run through redirect-rules.sh --dry-run). The embedded
egressd.yaml uses only contract keys, and egressd --check-config accepts it when a build exists."""

from __future__ import annotations

import posixpath
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploylib import (ROOT, config_key_errors, load_yaml_documents, option,  # noqa: E402
                       port_of, redirect_dry_run, tool)

K8S = ROOT / "deploy" / "kubernetes"
VARIANTS = {"replicas": K8S, "node-redirect": K8S / "node-redirect"}
WORKLOAD_KINDS = {"Deployment", "DaemonSet", "StatefulSet"}


def kustomize(directory: Path, seen: set[Path] | None = None) -> tuple[list[dict], dict]:
    """The objects a kustomization yields (resources, recursively; no patches needed here) and
    its own document. Fails on a resource that does not exist."""
    seen = seen or set()
    directory = directory.resolve()
    assert directory not in seen, f"kustomization cycle at {directory}"
    seen.add(directory)
    kfile = directory / "kustomization.yaml"
    assert kfile.exists(), f"{directory}: no kustomization.yaml"
    (kdoc,) = load_yaml_documents(kfile)
    assert kdoc.get("kind") == "Kustomization", kfile
    objects: list[dict] = []
    for res in kdoc.get("resources", []):
        path = directory / res
        assert path.exists(), f"{kfile}: resource {res} does not exist"
        if path.is_dir():
            objects += kustomize(path, seen)[0]
        else:
            objects += load_yaml_documents(path)
    return objects, kdoc


def pod_specs(objects: list[dict]) -> list[tuple[dict, dict]]:
    return [(o, o["spec"]["template"]) for o in objects if o["kind"] in WORKLOAD_KINDS]


def configmaps(objects: list[dict]) -> dict[str, dict]:
    return {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}


def containers(pod: dict) -> list[dict]:
    return pod["spec"].get("initContainers", []) + pod["spec"]["containers"]


def container(pod: dict, name: str) -> dict:
    return next(c for c in containers(pod) if c["name"] == name)


def embedded_config(objects: list[dict]) -> dict:
    return yaml.safe_load(configmaps(objects)["egressd-config"]["egressd.yaml"])


class ManifestsTest(unittest.TestCase):
    def test_every_yaml_file_parses_and_has_kind_and_name(self) -> None:
        files = sorted(K8S.rglob("*.yaml"))
        self.assertGreaterEqual(len(files), 8)
        for f in files:
            with self.subTest(file=str(f.relative_to(ROOT))):
                for doc in load_yaml_documents(f):
                    self.assertIn("kind", doc)
                    self.assertIn("apiVersion", doc)
                    if doc["kind"] != "Kustomization":
                        self.assertTrue(doc["metadata"]["name"])

    def test_every_manifest_is_used_by_a_kustomization(self) -> None:
        used = set()
        for d in [K8S, *VARIANTS.values(), K8S / "base"]:
            (kdoc,) = load_yaml_documents(d / "kustomization.yaml")
            used |= {(d / r).resolve() for r in kdoc.get("resources", [])}
        for f in K8S.rglob("*.yaml"):
            if f.name != "kustomization.yaml":
                self.assertIn(f.resolve(), used, f"{f} is in no kustomization")

    def test_variants(self) -> None:
        kinds = {name: sorted(o["kind"] for o in kustomize(d)[0]) for name, d in VARIANTS.items()}
        self.assertEqual(kinds["replicas"], ["ConfigMap", "Deployment", "Namespace",
                                             "PodDisruptionBudget", "Service"])
        self.assertEqual(kinds["node-redirect"], ["ConfigMap", "DaemonSet", "Namespace"])


class ReferencesTest(unittest.TestCase):
    def for_each_pod(self):
        for variant, d in VARIANTS.items():
            objects, kdoc = kustomize(d)
            for workload, pod in pod_specs(objects):
                yield variant, objects, kdoc, workload, pod

    def test_configmap_names_and_keys_exist(self) -> None:
        for variant, objects, _k, workload, pod in self.for_each_pod():
            maps = configmaps(objects)
            refs = []
            for v in pod["spec"].get("volumes", []):
                if "configMap" in v:
                    refs += [(v["configMap"]["name"], i["key"]) for i in v["configMap"].get("items", [])]
                    refs.append((v["configMap"]["name"], None))
            for c in containers(pod):
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("configMapKeyRef")
                    if ref:
                        refs.append((ref["name"], ref["key"]))
            self.assertTrue(refs)
            for name, key in refs:
                with self.subTest(variant=variant, configmap=name, key=key):
                    self.assertIn(name, maps)
                    if key is not None:
                        self.assertIn(key, maps[name])

    def test_volume_mounts_name_volumes(self) -> None:
        for variant, _o, _k, workload, pod in self.for_each_pod():
            volumes = {v["name"] for v in pod["spec"].get("volumes", [])}
            mounted = set()
            for c in containers(pod):
                for m in c.get("volumeMounts", []):
                    with self.subTest(variant=variant, container=c["name"], mount=m["name"]):
                        self.assertIn(m["name"], volumes)
                    mounted.add(m["name"])
            self.assertEqual(volumes - mounted, set(), "unused volumes")

    def test_probe_ports_are_named_container_ports(self) -> None:
        for variant, _o, _k, workload, pod in self.for_each_pod():
            c = container(pod, "egressd")
            names = {p["name"]: p["containerPort"] for p in c["ports"]}
            for probe in ("readinessProbe", "livenessProbe"):
                get = c[probe]["httpGet"]
                self.assertIn(get["port"], names, f"{variant} {probe}")
            self.assertEqual(c["readinessProbe"]["httpGet"]["path"], "/readyz")
            self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/healthz")
            self.assertTrue(c["lifecycle"]["preStop"]["exec"]["command"], "preStop drain")
            ann = pod["metadata"]["annotations"]
            self.assertEqual(ann["prometheus.io/scrape"], "true")
            self.assertEqual(int(ann["prometheus.io/port"]), names["admin"])
            self.assertEqual(ann["prometheus.io/path"], "/metrics")

    def test_config_file_is_in_its_mount(self) -> None:
        for variant, objects, _k, workload, pod in self.for_each_pod():
            c = container(pod, "egressd")
            config_path = c["args"][c["args"].index("--config") + 1]
            mount = next(m for m in c["volumeMounts"]
                         if config_path.startswith(m["mountPath"].rstrip("/") + "/"))
            volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mount["name"])
            rel = posixpath.relpath(config_path, mount["mountPath"])
            self.assertIn(rel, [i["path"] for i in volume["configMap"]["items"]])
            policy_dir = embedded_config(objects)["policy"]["dir"]
            policy_mount = next(m for m in c["volumeMounts"]
                                if policy_dir.startswith(m["mountPath"].rstrip("/") + "/"))
            sync = container(pod, "policy-sync")
            self.assertIn(policy_mount["name"], [m["name"] for m in sync["volumeMounts"]])
            root = option(sync["args"], "--root")[0]
            link = option(sync["args"], "--link")[0]
            self.assertTrue(policy_dir.startswith(f"{root}/{link}/"), policy_dir)
            hook = option(sync["args"], "--exechook-command")[0]
            hook_mount = next(m for m in sync["volumeMounts"] if hook.startswith(m["mountPath"] + "/"))
            hook_volume = next(v for v in pod["spec"]["volumes"] if v["name"] == hook_mount["name"])
            self.assertIn(posixpath.basename(hook), [i["path"] for i in hook_volume["configMap"]["items"]])
            self.assertTrue(pod["spec"].get("shareProcessNamespace"), "the hook signals egressd")

    def test_redirect_init_container_matches_the_config(self) -> None:
        for variant, objects, _k, workload, pod in self.for_each_pod():
            with self.subTest(variant=variant):
                config = embedded_config(objects)
                args = container(pod, "redirect")["args"]
                names = {p["name"]: p["containerPort"] for p in container(pod, "egressd")["ports"]}
                self.assertEqual(option(args, "--port"), [str(port_of(config["listeners"][0]["address"]))])
                self.assertEqual(int(option(args, "--port")[0]), names["egress"])
                self.assertEqual(option(args, "--admin-port"), [], "no port-based bypass")
                caps = container(pod, "redirect")["securityContext"]["capabilities"]
                self.assertEqual(caps["add"], ["NET_ADMIN"])
                self.assertEqual(container(pod, "egressd")["securityContext"]["capabilities"]["drop"], ["ALL"])
                p = redirect_dry_run(args)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn("REDIRECT --to-ports 15001", p.stdout)

    def test_service_and_pdb_select_the_deployment(self) -> None:
        objects, _ = kustomize(VARIANTS["replicas"])
        deployment = next(o for o in objects if o["kind"] == "Deployment")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        self.assertEqual(deployment["spec"]["selector"]["matchLabels"].items() - labels.items(), set())
        ports = {p["name"] for p in container(deployment["spec"]["template"], "egressd")["ports"]}
        service = next(o for o in objects if o["kind"] == "Service")
        self.assertEqual(service["spec"]["selector"].items() - labels.items(), set())
        for p in service["spec"]["ports"]:
            self.assertIn(p["targetPort"], ports)
        pdb = next(o for o in objects if o["kind"] == "PodDisruptionBudget")
        self.assertEqual(pdb["spec"]["selector"]["matchLabels"].items() - labels.items(), set())
        self.assertLess(pdb["spec"]["maxUnavailable"], deployment["spec"]["replicas"])
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        drain = int(embedded_config(objects)["drain_timeout"].rstrip("s"))
        self.assertGreater(grace, drain + 5)

    def test_images_are_set_by_the_kustomization(self) -> None:
        for variant, _o, kdoc, workload, pod in self.for_each_pod():
            names = {i["name"] for i in kdoc.get("images", [])}
            for c in containers(pod):
                if "/" not in c["image"]:
                    self.assertIn(c["image"], names, f"{variant}: {c['name']}")

    def test_daemonset_runs_on_the_host_network(self) -> None:
        objects, _ = kustomize(VARIANTS["node-redirect"])
        ds = next(o for o in objects if o["kind"] == "DaemonSet")
        spec = ds["spec"]["template"]["spec"]
        self.assertTrue(spec["hostNetwork"])
        args = container(ds["spec"]["template"], "redirect")["args"]
        self.assertEqual(option(args, "--hook"), ["prerouting"])
        self.assertTrue(option(args, "--in-interface"))
        self.assertTrue(option(args, "--exclude-cidr"), "cluster CIDRs must stay direct")


class EmbeddedConfigTest(unittest.TestCase):
    def test_contract_keys(self) -> None:
        objects, _ = kustomize(K8S / "base")
        self.assertEqual(config_key_errors(embedded_config(objects)), [])

    @unittest.skipUnless(tool("EGRESSD"), "EGRESSD (a built egressd) not given")
    def test_check_config(self) -> None:
        objects, _ = kustomize(K8S / "base")
        text = configmaps(objects)["egressd-config"]["egressd.yaml"]
        text = text.replace("/policy/current/policy", str(ROOT / "policy"))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "egressd.yaml"
            path.write_text(text)
            p = subprocess.run([str(tool("EGRESSD")), "--check-config", "--config", str(path)],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
