#!/usr/bin/env python3
"""The Dockerfile, checked without a Docker engine: its instructions are parsed and checked for
what the issue asks (bookworm bases; the build stage installs scripts/install-deps.sh's packages by
running it; the runtime stage installs only the libraries the binaries load, runs as a non-root
user, has a HEALTHCHECK on /healthz; every COPY source exists and is in the build context), and
deploy/docker/runtime-packages.sh is run on a real binary."""

from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
import sys
import unittest
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploylib import ROOT, tool  # noqa: E402

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
RUNTIME_PACKAGES = ROOT / "deploy" / "docker" / "runtime-packages.sh"


@dataclass
class Stage:
    image: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, args)

    def all(self, kind: str) -> list[str]:
        return [args for k, args in self.instructions if k == kind]


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions with line continuations joined and comments dropped, grouped by stage."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if current and line.lstrip().startswith("#"):
            continue  # comment inside a continued instruction
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "Dockerfile ends inside a continued line"
    stages: list[Stage] = []
    for line in logical:
        kind, _, args = line.strip().partition(" ")
        kind = kind.upper()
        if kind == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.I)
            assert m, f"bad FROM: {args}"
            stages.append(Stage(m.group(1), m.group(2) or str(len(stages))))
        elif kind == "ARG" and not stages:
            continue
        else:
            assert stages, f"{kind} before FROM"
            stages[-1].instructions.append((kind, args.strip()))
    return stages


def copy_parts(args: str) -> tuple[dict, list[str], str]:
    """COPY [--from=X] src... dest → (flags, sources, dest); JSON form too."""
    flags = {}
    words = shlex.split(args) if not args.lstrip().startswith("[") else None
    if words is None:
        import json
        words = json.loads(args)
    while words and words[0].startswith("--"):
        k, _, v = words.pop(0)[2:].partition("=")
        flags[k] = v
    return flags, words[:-1], words[-1]


def tracked(path: str) -> bool:
    """path (a file, or a directory with at least one file) is committed, or at least in the
    working tree when this is no git checkout."""
    if path in (".", "./"):
        return True
    p = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--", path], capture_output=True,
                       text=True, timeout=60)
    if p.returncode != 0:
        return (ROOT / path).exists()
    return bool(p.stdout.strip())


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines() if DOCKERIGNORE.exists() else []
    return [l.strip() for l in lines if l.strip() and not l.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    path = path.strip("/")
    for pat in patterns:
        pat = pat.strip("/")
        if fnmatch.fnmatch(path, pat) or (pat.startswith("**/") and fnmatch.fnmatch(path.split("/")[-1], pat[3:])):
            return True
        if path.startswith(pat + "/"):
            return True
    return False


class DockerfileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.stages = parse_dockerfile(DOCKERFILE.read_text())
        cls.by_name = {s.name: s for s in cls.stages}

    def test_stages_and_bookworm_bases(self) -> None:
        self.assertEqual([s.name for s in self.stages], ["build", "redirect-init", "runtime"])
        for s in self.stages:
            self.assertRegex(s.image, r"^debian:bookworm(-slim)?$", s.name)
        self.assertEqual(self.stages[-1].name, "runtime", "the default target must be the gateway")

    def test_build_stage_uses_the_deps_script_and_ninja(self) -> None:
        build = self.by_name["build"]
        runs = " ".join(build.all("RUN"))
        self.assertIn("scripts/install-deps.sh", runs)
        copies = [copy_parts(c) for c in build.all("COPY")]
        first_run = next(i for i, (k, _) in enumerate(build.instructions) if k == "RUN")
        before = [copy_parts(a) for k, a in build.instructions[:first_run] if k == "COPY"]
        self.assertIn("scripts/install-deps.sh", [s for _, srcs, _ in before for s in srcs],
                      "install-deps.sh must be copied before it runs (and before the sources, for caching)")
        self.assertTrue(copies)
        self.assertRegex(runs, r"cmake -S \. -B \S+ -G Ninja")
        self.assertIn("--target egressd egressctl", runs)
        self.assertIn("deploy/docker/runtime-packages.sh /out/egressd /out/egressctl", runs)

    def test_runtime_installs_only_derived_runtime_packages(self) -> None:
        runtime = self.by_name["runtime"]
        runs = " ".join(runtime.all("RUN"))
        self.assertIn("xargs -a /tmp/runtime-packages apt-get install", runs)
        self.assertNotRegex(runs, r"-dev\b", "no -dev package in the runtime image")
        self.assertNotIn("install-deps.sh", runs)
        self.assertIn("--no-install-recommends", runs)
        for flags, _, _ in map(copy_parts, runtime.all("COPY")):
            self.assertEqual(flags.get("from"), "build", "runtime copies only build products")
        self.assertRegex(runs, r"ldd /usr/local/bin/egressd /usr/local/bin/egressctl \| \{ ! grep 'not found'; \}")

    def test_runtime_user_is_not_root(self) -> None:
        runtime = self.by_name["runtime"]
        users = runtime.all("USER")
        self.assertTrue(users, "no USER in the runtime stage")
        user = users[-1].split(":")[0]
        self.assertNotIn(user, ("root", "0"))
        runs = " ".join(runtime.all("RUN"))
        self.assertRegex(runs, rf"useradd --system --uid \d+ --gid {user}\b.* {user}\b")
        # USER comes before ENTRYPOINT/CMD and after everything that needs root.
        kinds = [k for k, _ in runtime.instructions]
        self.assertLess(max(i for i, k in enumerate(kinds) if k == "RUN"), kinds.index("USER"))

    def test_healthcheck_on_healthz_of_the_admin_address(self) -> None:
        runtime = self.by_name["runtime"]
        checks = runtime.all("HEALTHCHECK")
        self.assertEqual(len(checks), 1)
        self.assertIn("/healthz", checks[0])
        self.assertIn("${EGRESSD_ADMIN}", checks[0])
        env = " ".join(runtime.all("ENV"))
        self.assertIn("EGRESSD_ADMIN=127.0.0.1:9901", env)
        self.assertRegex(" ".join(runtime.all("RUN")), r"apt-get install [^&]*\bcurl\b")

    def test_every_copy_source_exists_and_is_in_the_context(self) -> None:
        patterns = dockerignore_patterns()
        for stage in self.stages:
            for flags, sources, _dest in map(copy_parts, stage.all("COPY")):
                for src in sources:
                    with self.subTest(stage=stage.name, src=src):
                        if "from" in flags:
                            self.assertIn(flags["from"], self.by_name, f"unknown stage {flags['from']}")
                            if src.startswith("/src/"):  # the build stage's copy of the context
                                self.assertTrue(tracked(src[len("/src/"):]), f"{src}: not in git")
                            continue
                        self.assertTrue(tracked(src), f"COPY {src}: not in the repository")
                        if src != ".":
                            self.assertFalse(ignored(src, patterns), f"COPY {src}: excluded by .dockerignore")

    def test_dockerignore_keeps_secrets_and_build_trees_out(self) -> None:
        patterns = dockerignore_patterns()
        for path in (".git", "build", "build-asan", "certs/out", "certs/out/gateway.key"):
            self.assertTrue(ignored(path, patterns), path)
        for path in ("src/cli/egressd.cpp", "scripts/install-deps.sh", "policy/00-settings.yaml",
                     "CMakeLists.txt", "deploy/docker/runtime-packages.sh"):
            self.assertFalse(ignored(path, patterns), path)

    def test_entrypoint_and_ports(self) -> None:
        runtime = self.by_name["runtime"]
        self.assertEqual(runtime.all("ENTRYPOINT"), ['["/usr/local/bin/egressd"]'])
        self.assertIn("/etc/egressd/config/egressd.yaml", runtime.all("CMD")[0])
        self.assertEqual(set(" ".join(runtime.all("EXPOSE")).split()), {"15001", "9901"})
        self.assertEqual(runtime.all("STOPSIGNAL"), ["SIGTERM"])
        redirect = self.by_name["redirect-init"]
        self.assertIn("scripts/redirect-rules.sh", " ".join(redirect.all("COPY")))
        self.assertIn("iptables", " ".join(redirect.all("RUN")))


@unittest.skipUnless((ROOT / "config" / "egressd.yaml").exists(), "config/egressd.yaml not there yet")
class ImageDefaultConfigTest(unittest.TestCase):
    """The image's CMD runs config/egressd.yaml from /etc/egressd/config: its relative paths must
    land on what the Dockerfile copies, and its audit log must be writable by the egressd user."""

    def test_paths_resolve_inside_the_image(self) -> None:
        import posixpath
        import yaml
        stages = parse_dockerfile(DOCKERFILE.read_text())
        runtime = stages[-1]
        cmd = runtime.all("CMD")[0]
        config_path = re.search(r'"(/etc/egressd/[^"]+\.yaml)"', cmd).group(1)
        config_dir = posixpath.dirname(config_path)
        copied = {copy_parts(a)[2].rstrip("/"): copy_parts(a)[1][0] for a in runtime.all("COPY")}
        self.assertEqual(copied.get(config_dir), "/src/config/")
        config = yaml.safe_load((ROOT / "config" / "egressd.yaml").read_text())
        policy_dir = posixpath.normpath(posixpath.join(config_dir, config["policy"]["dir"]))
        self.assertEqual(copied.get(policy_dir), "/src/policy/", policy_dir)
        audit = config["audit"]["path"]
        if audit != "-":
            audit_dir = posixpath.dirname(posixpath.normpath(posixpath.join(config_dir, audit)))
            self.assertEqual(audit_dir, "/var/log/egressd", "the only directory egressd may write")


class RuntimePackagesTest(unittest.TestCase):
    def run_script(self, *binaries: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(RUNTIME_PACKAGES), *binaries], capture_output=True, text=True,
                              timeout=60)

    def test_a_system_binary(self) -> None:
        p = self.run_script("/usr/bin/openssl")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("libssl3", p.stdout.split())
        self.assertIn("libc6", p.stdout.split())

    def test_missing_file_fails(self) -> None:
        p = self.run_script("/nonexistent/egressd")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no such file", p.stderr)

    @unittest.skipUnless(tool("EGRESSCTL"), "EGRESSCTL (a built egressctl) not given")
    def test_egressctl_needs_the_runtime_libraries_of_the_issue(self) -> None:
        binaries = [str(tool("EGRESSCTL"))] + ([str(tool("EGRESSD"))] if tool("EGRESSD") else [])
        p = self.run_script(*binaries)
        self.assertEqual(p.returncode, 0, p.stderr)
        packages = set(p.stdout.split())
        self.assertLessEqual({"libssl3", "libyaml-cpp0.7", "libre2-9", "libboost-json1.81.0"}, packages)
        self.assertFalse([x for x in packages if x.endswith("-dev")], packages)
        # Every name is a real Debian 12 package (local apt lists; no network).
        for pkg in packages:
            show = subprocess.run(["apt-cache", "show", "--no-all-versions", pkg],
                                  capture_output=True, text=True, timeout=60)
            self.assertEqual(show.returncode, 0, f"{pkg}: {show.stderr}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
