#!/usr/bin/env python3
"""deploy/kubernetes: every manifest parses (python3-yaml), every kustomization names files that
exist (and `kubectl kustomize` builds the same objects, when kubectl is installed), and every
reference resolves: ConfigMap names and keys (volumes, configMapKeyRef), Secret
volumes, volume names, port names (probes, Service targetPort), the Service / PodDisruptionBudget
selectors, the Prometheus annotation, the --config file inside its mount, and the ports and
exclusions of the redirect init container (which is also run through redirect-rules.sh --dry-run).

Each pod's egressd config (the ConfigMap item its --config names) uses only contract keys, its
listeners' ports are the container's ports, and egressd --check-config accepts it (with the dev
PKI in place of the mounted Secrets) when a build exists. An egressd with upstream.mark (the agent of agent-gateway/) has that mark excluded by its redirect
rules (in the dry run's output) and the capability SO_MARK needs is effective; key files are
mounted with a mode egressd accepts. The agent-gateway variant's own cross-checks are in
test_kubernetes_agent_gateway.py."""

from __future__ import annotations

import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploylib import (DESTINATIONS, ROOT, TRANSPARENT_DESTINATIONS,  # noqa: E402
                       config_key_errors, load_yaml_documents, make_dev_pki, option, port_of,
                       redirect_dry_run, tool)

K8S = ROOT / "deploy" / "kubernetes"
VARIANTS = {"replicas": K8S, "node-redirect": K8S / "node-redirect",
            "agent-gateway": K8S / "agent-gateway"}
CERT_MANAGER = K8S / "agent-gateway" / "cert-manager"  # the Secrets of agent-gateway/
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


def has_container(pod: dict, name: str) -> bool:
    return any(c["name"] == name for c in containers(pod))


def mount_of(pod: dict, c: dict, path: str) -> tuple[dict, dict]:
    """The volumeMount of container c that holds path, and its volume."""
    mount = next(m for m in c["volumeMounts"] if path.startswith(m["mountPath"].rstrip("/") + "/"))
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mount["name"])
    return mount, volume


def config_path(pod: dict) -> str:
    args = container(pod, "egressd")["args"]
    return args[args.index("--config") + 1]


def pod_config_text(objects: list[dict], pod: dict) -> str:
    """The text of the config file egressd's --config names: the ConfigMap item mounted there."""
    path = config_path(pod)
    mount, volume = mount_of(pod, container(pod, "egressd"), path)
    rel = posixpath.relpath(path, mount["mountPath"])
    item = next(i for i in volume["configMap"]["items"] if i["path"] == rel)
    return configmaps(objects)[volume["configMap"]["name"]][item["key"]]


def pod_config(objects: list[dict], pod: dict) -> dict:
    return yaml.safe_load(pod_config_text(objects, pod))


def runs_as(pod: dict, c: dict, key: str):
    return c.get("securityContext", {}).get(key, pod["spec"].get("securityContext", {}).get(key))


def key_paths(config: dict) -> list[tuple[str, str, bool]]:
    """(config key, private key path, allow_insecure_key_permissions) of every TLS key file."""
    out = []
    for i, listener in enumerate(config["listeners"]):
        tls = listener.get("tls", {})
        if tls.get("mode", "off") != "off":
            out.append((f"listeners[{i}].tls.key", tls["key"],
                        bool(tls.get("allow_insecure_key_permissions", False))))
    via = config["upstream"].get("via")
    if via:
        out.append(("upstream.via.tls.key", via["tls"]["key"], False))
    return out


def tls_file_paths(config: dict) -> list[str]:
    paths = []
    for listener in config["listeners"]:
        tls = listener.get("tls", {})
        if tls.get("mode", "off") != "off":
            paths += [tls["cert"], tls["key"], tls["client_ca"]]
    via = config["upstream"].get("via")
    if via:
        paths += [via["tls"][k] for k in ("cert", "key", "ca")]
    return paths


def all_pods():
    for variant, d in VARIANTS.items():
        objects, kdoc = kustomize(d)
        for workload, pod in pod_specs(objects):
            yield variant, objects, kdoc, workload, pod


class ManifestsTest(unittest.TestCase):
    def test_every_yaml_file_parses_and_has_kind_and_name(self) -> None:
        files = sorted(K8S.rglob("*.yaml"))
        self.assertGreaterEqual(len(files), 16)
        for f in files:
            with self.subTest(file=str(f.relative_to(ROOT))):
                for doc in load_yaml_documents(f):
                    self.assertIn("kind", doc)
                    self.assertIn("apiVersion", doc)
                    if doc["kind"] != "Kustomization":
                        self.assertTrue(doc["metadata"]["name"])

    def test_every_manifest_is_used_by_a_kustomization(self) -> None:
        used = set()
        for kfile in K8S.rglob("kustomization.yaml"):
            (kdoc,) = load_yaml_documents(kfile)
            used |= {(kfile.parent / r).resolve() for r in kdoc.get("resources", [])}
        for f in K8S.rglob("*.yaml"):
            if f.name != "kustomization.yaml":
                self.assertIn(f.resolve(), used, f"{f} is in no kustomization")

    def test_variants(self) -> None:
        kinds = {name: sorted(o["kind"] for o in kustomize(d)[0]) for name, d in VARIANTS.items()}
        self.assertEqual(kinds["replicas"], ["ConfigMap", "Deployment", "Namespace",
                                             "PodDisruptionBudget", "Service"])
        self.assertEqual(kinds["node-redirect"], ["ConfigMap", "DaemonSet", "Namespace"])
        self.assertEqual(kinds["agent-gateway"], ["ConfigMap", "ConfigMap", "DaemonSet", "Deployment",
                                                  "Namespace", "PodDisruptionBudget", "Service"])
        self.assertEqual(sorted(o["kind"] for o in kustomize(CERT_MANAGER)[0]),
                         ["Certificate", "Certificate"])

    @unittest.skipUnless(shutil.which("kubectl"), "kubectl not installed")
    def test_kubectl_kustomize_builds_the_same_objects(self) -> None:
        """kustomize itself (kubectl's, offline) builds every kustomization: the same objects as
        this test's reading, all in the namespace, no image left without its registry."""
        for d in [*VARIANTS.values(), CERT_MANAGER]:
            with self.subTest(kustomization=str(d.relative_to(ROOT))):
                p = subprocess.run(["kubectl", "kustomize", str(d)], capture_output=True, text=True,
                                   timeout=120)
                self.assertEqual(p.returncode, 0, p.stderr)
                built = [o for o in yaml.safe_load_all(p.stdout) if o]
                ours, kdoc = kustomize(d)
                self.assertEqual(sorted((o["kind"], o["metadata"]["name"]) for o in built),
                                 sorted((o["kind"], o["metadata"]["name"]) for o in ours))
                for o in built:
                    if o["kind"] != "Namespace":
                        self.assertEqual(o["metadata"].get("namespace"), kdoc["namespace"])
                for _w, pod in pod_specs(built):
                    for c in containers(pod):
                        self.assertIn("/", c["image"], c["name"])

    def test_object_names_are_unique_per_kind(self) -> None:
        for variant, d in VARIANTS.items():
            names = [(o["kind"], o["metadata"]["name"]) for o in kustomize(d)[0]]
            self.assertEqual(len(names), len(set(names)), f"{variant}: {sorted(names)}")


class ReferencesTest(unittest.TestCase):
    def test_configmap_names_and_keys_exist(self) -> None:
        for variant, objects, _k, workload, pod in all_pods():
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
        for variant, _o, _k, workload, pod in all_pods():
            volumes = {v["name"] for v in pod["spec"].get("volumes", [])}
            mounted = set()
            for c in containers(pod):
                for m in c.get("volumeMounts", []):
                    with self.subTest(variant=variant, container=c["name"], mount=m["name"]):
                        self.assertIn(m["name"], volumes)
                    mounted.add(m["name"])
            self.assertEqual(volumes - mounted, set(), "unused volumes")

    def test_probe_ports_are_named_container_ports(self) -> None:
        for variant, objects, _k, workload, pod in all_pods():
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
            self.assertEqual(port_of(pod_config(objects, pod)["admin"]["address"]), names["admin"])

    def test_listener_ports_are_container_ports(self) -> None:
        for variant, objects, _k, workload, pod in all_pods():
            c = container(pod, "egressd")
            ports = {p["containerPort"] for p in c["ports"]}
            for listener in pod_config(objects, pod)["listeners"]:
                with self.subTest(variant=variant, workload=workload["metadata"]["name"],
                                  listener=listener["name"]):
                    self.assertIn(listener.get("destination", "original_dst"), DESTINATIONS)
                    self.assertIn(port_of(listener["address"]), ports)
            if pod["spec"].get("hostNetwork"):
                for p in c["ports"]:
                    self.assertEqual(p.get("hostPort"), p["containerPort"], f"{variant} {p['name']}")

    def test_config_file_is_in_its_mount(self) -> None:
        for variant, objects, _k, workload, pod in all_pods():
            with self.subTest(variant=variant, workload=workload["metadata"]["name"]):
                c = container(pod, "egressd")
                pod_config_text(objects, pod)  # the ConfigMap item exists at that path
                config = pod_config(objects, pod)
                if "policy" not in config:
                    # Only an agent may run without a policy (issue 20): then it needs no git-sync.
                    self.assertIn("via", config["upstream"], "policy.dir is required without via")
                    self.assertFalse(has_container(pod, "policy-sync"))
                    continue
                policy_dir = config["policy"]["dir"]
                policy_mount, _ = mount_of(pod, c, policy_dir)
                sync = container(pod, "policy-sync")
                self.assertIn(policy_mount["name"], [m["name"] for m in sync["volumeMounts"]])
                root = option(sync["args"], "--root")[0]
                link = option(sync["args"], "--link")[0]
                self.assertTrue(policy_dir.startswith(f"{root}/{link}/"), policy_dir)
                init = container(pod, "policy-init")
                self.assertIn("--one-time", init["args"], "egressd starts with a policy")
                hook = option(sync["args"], "--exechook-command")[0]
                _, hook_volume = mount_of(pod, sync, hook)
                self.assertIn(posixpath.basename(hook), [i["path"] for i in hook_volume["configMap"]["items"]])
                self.assertTrue(pod["spec"].get("shareProcessNamespace"), "the hook signals egressd")

    def test_redirect_init_container_matches_the_config(self) -> None:
        for variant, objects, _k, workload, pod in all_pods():
            config = pod_config(objects, pod)
            transparent = [listener for listener in config["listeners"]
                           if listener.get("destination", "original_dst") in TRANSPARENT_DESTINATIONS]
            with self.subTest(variant=variant, workload=workload["metadata"]["name"]):
                # A pod with transparent listeners needs the redirect; a CONNECT-only gateway
                # must not have one (it would capture its own upstream connections).
                self.assertEqual(has_container(pod, "redirect"), bool(transparent))
                if not transparent:
                    continue
                args = container(pod, "redirect")["args"]
                names = {p["name"]: p["containerPort"] for p in container(pod, "egressd")["ports"]}
                self.assertEqual(option(args, "--port"), [str(port_of(transparent[0]["address"]))])
                self.assertIn(int(option(args, "--port")[0]), names.values())
                self.assertEqual(option(args, "--admin-port"), [], "no port-based bypass")
                caps = container(pod, "redirect")["securityContext"]["capabilities"]
                self.assertEqual(caps["add"], ["NET_ADMIN"])
                p = redirect_dry_run(args)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn(f"REDIRECT --to-ports {option(args, '--port')[0]}", p.stdout)

    def test_own_marked_traffic_is_excluded(self) -> None:
        """An egressd with upstream.mark: the redirect rules in front of it return its marked
        packets before any REDIRECT, in every hook they install (read from the dry run)."""
        checked = 0
        for variant, objects, _k, workload, pod in all_pods():
            config = pod_config(objects, pod)
            mark = int(str(config["upstream"].get("mark", 0)), 0)
            if "via" in config["upstream"]:
                self.assertNotEqual(mark, 0, f"{variant}: an agent marks its connections to the gateway")
            if mark == 0 or not has_container(pod, "redirect"):
                continue
            checked += 1
            with self.subTest(variant=variant, workload=workload["metadata"]["name"]):
                args = container(pod, "redirect")["args"]
                self.assertEqual([int(m, 0) for m in option(args, "--exclude-mark")], [mark])
                out = redirect_dry_run(args).stdout
                hooks = sorted(set(re.findall(r"-I (OUTPUT|PREROUTING) 1 .*-j (EGRESSD-\w+)", out)))
                self.assertTrue(hooks, out)
                for table in re.findall(r"\*nat\n(.*?)COMMIT", out, re.S):
                    lines = table.splitlines()
                    for _hook, chain in hooks:
                        rules = [ln for ln in lines if ln.startswith(f"-A {chain} ")]
                        self.assertEqual(rules[0], f"-A {chain} -m mark --mark {mark:#x}/0xffffffff -j RETURN",
                                         f"{chain}: {rules}")
        self.assertGreaterEqual(checked, 1, "the agent's mark is checked")

    def test_security_context(self) -> None:
        """egressd never escalates, has a read-only root, drops every capability and adds only
        NET_ADMIN, and only when its config needs it (upstream.mark, tproxy); a capability added
        for a non-root process is not effective under Kubernetes (no ambient capabilities), so
        then it runs as root. The redirect init container is the only other one with a capability."""
        for variant, objects, _k, workload, pod in all_pods():
            config = pod_config(objects, pod)
            needs_net_admin = int(str(config["upstream"].get("mark", 0)), 0) != 0 or any(
                listener.get("destination") == "tproxy" for listener in config["listeners"])
            with self.subTest(variant=variant, workload=workload["metadata"]["name"]):
                self.assertEqual(pod["spec"]["securityContext"]["seccompProfile"]["type"], "RuntimeDefault")
                for c in containers(pod):
                    sc = c.get("securityContext", {})
                    caps = sc.get("capabilities", {})
                    if c["name"] == "redirect":
                        continue
                    if c["name"] == "policy-init":
                        self.assertNotIn("add", caps)
                        continue
                    self.assertIs(sc.get("allowPrivilegeEscalation"), False, c["name"])
                    self.assertIs(sc.get("readOnlyRootFilesystem"), True, c["name"])
                    self.assertEqual(caps.get("drop"), ["ALL"], c["name"])
                    if c["name"] == "egressd" and needs_net_admin:
                        self.assertEqual(caps.get("add"), ["NET_ADMIN"])
                        self.assertEqual(runs_as(pod, c, "runAsUser"), 0, "NET_ADMIN effective")
                    else:
                        self.assertNotIn("add", caps, c["name"])
                        self.assertIs(runs_as(pod, c, "runAsNonRoot"), True, c["name"])

    def test_tls_files_are_in_secret_mounts_with_a_mode_egressd_accepts(self) -> None:
        """Every TLS file of a config is in a Secret volume of the egressd container; a key file's
        mode is what egressd accepts: 0400 for root, or group-readable via fsGroup (kubelet makes
        a Secret's files group-readable then) only with allow_insecure_key_permissions."""
        checked = 0
        for variant, objects, _k, workload, pod in all_pods():
            config = pod_config(objects, pod)
            c = container(pod, "egressd")
            for path in tls_file_paths(config):
                with self.subTest(variant=variant, path=path):
                    _, volume = mount_of(pod, c, path)
                    self.assertIn("secret", volume)
            for key, path, insecure_ok in key_paths(config):
                checked += 1
                with self.subTest(variant=variant, key=key):
                    _, volume = mount_of(pod, c, path)
                    mode = volume["secret"].get("defaultMode", 0o644)
                    fs_group = pod["spec"].get("securityContext", {}).get("fsGroup")
                    uid = runs_as(pod, c, "runAsUser")
                    if fs_group is not None:
                        mode |= 0o440
                        self.assertEqual(runs_as(pod, c, "runAsGroup"), fs_group, "reads it as group")
                    else:
                        self.assertEqual(uid, 0, "without fsGroup the files are root's")
                    if mode & 0o077:
                        self.assertTrue(insecure_ok, f"{key}: mode {mode:#o} is refused")
        self.assertGreaterEqual(checked, 2)

    def test_services_and_pdbs_select_the_deployments(self) -> None:
        for variant, d in VARIANTS.items():
            objects, _ = kustomize(d)
            for deployment in (o for o in objects if o["kind"] == "Deployment"):
                with self.subTest(variant=variant, deployment=deployment["metadata"]["name"]):
                    pod = deployment["spec"]["template"]
                    labels = pod["metadata"]["labels"]
                    self.assertEqual(deployment["spec"]["selector"]["matchLabels"].items() - labels.items(), set())
                    self.assertGreaterEqual(deployment["spec"]["replicas"], 2)
                    ports = {p["name"] for p in container(pod, "egressd")["ports"]}
                    services = [o for o in objects if o["kind"] == "Service"
                                and not o["spec"]["selector"].items() - labels.items()]
                    self.assertEqual(len(services), 1)
                    for p in services[0]["spec"]["ports"]:
                        self.assertIn(p["targetPort"], ports)
                    pdbs = [o for o in objects if o["kind"] == "PodDisruptionBudget"
                            and not o["spec"]["selector"]["matchLabels"].items() - labels.items()]
                    self.assertEqual(len(pdbs), 1)
                    self.assertLess(pdbs[0]["spec"]["maxUnavailable"], deployment["spec"]["replicas"])
                    grace = pod["spec"]["terminationGracePeriodSeconds"]
                    drain = int(pod_config(objects, pod)["drain_timeout"].rstrip("s"))
                    self.assertGreater(grace, drain + 5)

    def test_images_are_set_by_the_kustomization(self) -> None:
        for variant, _o, kdoc, workload, pod in all_pods():
            names = {i["name"] for i in kdoc.get("images", [])}
            for c in containers(pod):
                if "/" not in c["image"]:
                    self.assertIn(c["image"], names, f"{variant}: {c['name']}")

    def test_daemonsets_run_on_the_host_network(self) -> None:
        found = 0
        for variant, _o, _k, workload, pod in all_pods():
            if workload["kind"] != "DaemonSet":
                continue
            found += 1
            with self.subTest(variant=variant):
                spec = pod["spec"]
                self.assertTrue(spec["hostNetwork"])
                self.assertEqual(spec["dnsPolicy"], "ClusterFirstWithHostNet")
                args = container(pod, "redirect")["args"]
                self.assertEqual(option(args, "--hook"), ["prerouting"])
                self.assertTrue(option(args, "--in-interface"))
                self.assertTrue(option(args, "--exclude-cidr"), "cluster CIDRs must stay direct")
        self.assertEqual(found, 2)


class EmbeddedConfigTest(unittest.TestCase):
    def configs(self):
        seen = set()
        for variant, objects, _k, workload, pod in all_pods():
            text = pod_config_text(objects, pod)
            if text not in seen:
                seen.add(text)
                yield f"{variant}/{workload['metadata']['name']}", pod, text

    def test_contract_keys(self) -> None:
        for name, _pod, text in self.configs():
            with self.subTest(config=name):
                self.assertEqual(config_key_errors(yaml.safe_load(text)), [])

    @unittest.skipUnless(tool("EGRESSD"), "EGRESSD (a built egressd) not given")
    def test_check_config(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            pki = make_dev_pki(Path(tmp) / "pki")
            for name, pod, text in self.configs():
                with self.subTest(config=name):
                    config = yaml.safe_load(text)
                    text = text.replace("/policy/current/policy", str(ROOT / "policy"))
                    # The mounted Secret's files: the dev gateway certificate for a listener, a
                    # dev client certificate for an agent's upstream.via.
                    leaf = "payments" if "via" in config["upstream"] else "gateway"
                    c = container(pod, "egressd")
                    for path in tls_file_paths(config):
                        mount, _ = mount_of(pod, c, path)
                        files = Path(tmp) / mount["name"] / name.replace("/", "-")
                        files.mkdir(parents=True, exist_ok=True)
                        for target, source in (("tls.crt", f"{leaf}.pem"), ("tls.key", f"{leaf}.key"),
                                               ("ca.crt", "ca.pem")):
                            (files / target).write_bytes((pki / source).read_bytes())
                            (files / target).chmod(0o600)
                        text = text.replace(mount["mountPath"].rstrip("/") + "/", f"{files}/")
                    path = Path(tmp) / f"{name.replace('/', '-')}.yaml"
                    path.write_text(text)
                    p = subprocess.run([str(tool("EGRESSD")), "--check-config", "--config", str(path)],
                                       capture_output=True, text=True, timeout=60)
                    self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
