#!/usr/bin/env python3
"""The Debian package (`make package`, cmake/Packaging.cmake): what it declares, what it installs,
and an install with dpkg itself.

The .deb is EGRESS_DEB when set (the output of `make package`); otherwise cpack makes it from
this build tree (EGRESS_BUILD_DIR, whose targets `make test` has built) into a temporary
directory. Then:

* control data: name, version (the one `egressd --version` prints), Depends computed by
  dpkg-shlibdeps plus adduser, the maintainer scripts, and conffiles = every file under /etc;
* `dpkg-deb -x` into a scratch root: the FHS layout, a unit that names the installed binary and
  config and passes `systemd-analyze verify --root`, `egressd --version`, `egressd --check-config`
  on the installed config, `egressctl policy check` on the installed policy, and both man pages
  rendered by `man -l`;
* as root: `dpkg -i`, `dpkg -r` and `dpkg -P` in a copy-on-write overlay of this machine's root,
  chrooted, inside a private mount namespace. Every write lands in a tmpfs that disappears with
  the namespace: this machine's dpkg database, users and units are never touched. Checks that
  postinst creates the egressd user and /var/log/egressd owned by it and enables the unit without
  a running systemd, that egressd --check-config passes as that user, and what remove and purge
  leave behind. Skipped without root or overlayfs.

Exits 77 (skipped) when there is no package and no build tree to make one from."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploylib import ROOT, config_key_errors, load_yaml_documents  # noqa: E402

UNIT = "lib/systemd/system/egressd.service"
CONFIG = "etc/egressd/egressd.yaml"
WORK: Path  # temporary directory of this run: the .deb, the extracted tree
DEB: Path
TREE: Path


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("timeout", 300)
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def find_or_make_deb(work: Path) -> Path | None:
    given = os.environ.get("EGRESS_DEB")
    if given:
        return Path(given)
    build = os.environ.get("EGRESS_BUILD_DIR")
    if not build or not (Path(build) / "CPackConfig.cmake").is_file() or not shutil.which("cpack"):
        return None
    p = run(["cpack", "-G", "DEB", "-B", str(work / "cpack"), "--config",
             str(Path(build) / "CPackConfig.cmake")], cwd=build, timeout=1200)
    if p.returncode != 0:
        raise RuntimeError(f"cpack failed:\n{p.stdout}\n{p.stderr}")
    debs = sorted((work / "cpack").glob("egressd_*.deb"))
    if len(debs) != 1:
        raise RuntimeError(f"cpack made {debs}, expected one egressd_*.deb:\n{p.stdout}")
    return debs[0]


def control_field(name: str) -> str:
    return run(["dpkg-deb", "--field", str(DEB), name], check=True).stdout.strip()


def in_tree(text: str) -> str:
    """The installed config with its absolute paths moved into the scratch root."""
    for path in ("/etc/egressd", "/var/log/egressd"):
        text = text.replace(path, str(TREE) + path)
    return text


class ControlTest(unittest.TestCase):
    def test_name_version_and_architecture(self) -> None:
        self.assertEqual(control_field("Package"), "egressd")
        arch = run(["dpkg", "--print-architecture"], check=True).stdout.strip()
        self.assertEqual(control_field("Architecture"), arch)
        p = run([str(TREE / "usr/sbin/egressd"), "--version"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split()[:2], ["egressd", control_field("Version")])

    def test_depends_are_computed(self) -> None:
        depends = [d.strip().split()[0] for d in control_field("Depends").split(",")]
        self.assertIn("adduser", depends)  # the postinst runs adduser
        # dpkg-shlibdeps: the libraries the binaries load, with versions.
        self.assertIn("libc6", depends)
        self.assertTrue(any(d.startswith("libssl") for d in depends), depends)
        self.assertTrue(any(d.startswith("libyaml-cpp") for d in depends), depends)
        self.assertRegex(control_field("Depends"), r"libc6 \(>= [0-9.]+\)")

    def test_maintainer_scripts_and_conffiles(self) -> None:
        control = WORK / "control"
        run(["dpkg-deb", "--control", str(DEB), str(control)], check=True)
        for script in ("postinst", "prerm", "postrm"):
            self.assertTrue(os.access(control / script, os.X_OK), script)
            self.assertEqual(run(["sh", "-n", str(control / script)]).returncode, 0, script)
        self.assertIn("adduser", (control / "postinst").read_text())
        conffiles = sorted((control / "conffiles").read_text().split())
        etc = sorted("/" + str(f.relative_to(TREE)) for f in (TREE / "etc").rglob("*")
                     if f.is_file())
        self.assertEqual(conffiles, etc, "every file under /etc is a conffile, and only those")
        self.assertIn("/etc/egressd/egressd.yaml", conffiles)
        self.assertIn("/etc/logrotate.d/egressd", conffiles)


class LayoutTest(unittest.TestCase):
    def test_fhs_paths(self) -> None:
        for path, mode in (("usr/sbin/egressd", 0o755), ("usr/bin/egressctl", 0o755),
                           (UNIT, 0o644), (CONFIG, 0o644), ("etc/logrotate.d/egressd", 0o644),
                           ("usr/share/man/man8/egressd.8.gz", 0o644),
                           ("usr/share/man/man1/egressctl.1.gz", 0o644),
                           ("usr/share/doc/egressd/deployment.md", 0o644)):
            f = TREE / path
            self.assertTrue(f.is_file(), path)
            self.assertEqual(f.stat().st_mode & 0o777, mode, path)
        self.assertFalse((TREE / "usr/local").exists())
        self.assertFalse((TREE / "usr/bin/egressd").exists(), "a daemon belongs in sbin")
        policy = sorted(f.name for f in (TREE / "etc/egressd/policy").iterdir())
        self.assertEqual(policy, sorted(f.name for f in (ROOT / "policy").glob("*.yaml")))

    def test_binaries_are_stripped(self) -> None:
        p = run(["file", "-L", str(TREE / "usr/sbin/egressd")]) if shutil.which("file") else None
        if p is None:
            self.skipTest("file not installed")
        self.assertIn("stripped", p.stdout)
        self.assertNotIn("not stripped", p.stdout)

    def test_unit_starts_the_packaged_config(self) -> None:
        unit = (TREE / UNIT).read_text()
        self.assertEqual(unit, (ROOT / "deploy/systemd/egressd.service").read_text())
        self.assertRegex(unit, r"\nExecStart=/usr/sbin/egressd --config /etc/egressd/egressd.yaml\n")
        self.assertRegex(
            unit, r"\nExecStartPre=/usr/sbin/egressd --check-config --config /etc/egressd/egressd.yaml\n")
        # Every man page the unit names is in the package.
        for name, section in re.findall(r"man:([\w-]+)\((\d)\)", unit):
            self.assertTrue((TREE / f"usr/share/man/man{section}/{name}.{section}.gz").is_file(),
                            f"{name}({section})")
        self.assertNotIn("file://", unit)

    def test_config_uses_the_packaged_paths(self) -> None:
        doc = load_yaml_documents(TREE / CONFIG)[0]
        self.assertEqual(config_key_errors(doc), [])
        self.assertEqual(doc["policy"]["dir"].rstrip("/"), "/etc/egressd/policy")
        self.assertEqual(doc["audit"]["path"], "/var/log/egressd/audit.jsonl")
        # The unit's writable log directory and the logrotate snippet's path.
        self.assertIn("\nLogsDirectory=egressd\n", (TREE / UNIT).read_text())
        self.assertIn("/var/log/egressd/audit.jsonl {", (TREE / "etc/logrotate.d/egressd").read_text())

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze not installed")
    def test_systemd_analyze_verify(self) -> None:
        # The scratch root needs the system's units (network-online.target, ...) and the binaries
        # the unit runs besides egressd (/bin/kill).
        root = WORK / "analyze-root"
        shutil.copytree(TREE, root, symlinks=True)
        shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True,
                        dirs_exist_ok=True)
        (root / "bin").mkdir(exist_ok=True)
        shutil.copy("/bin/kill", root / "bin/kill")
        p = run(["systemd-analyze", "verify", "--man=no", f"--root={root}", "/" + UNIT])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual((p.stdout + p.stderr).strip(), "")

    def test_check_config_on_the_installed_config(self) -> None:
        (TREE / "var/log/egressd").mkdir(parents=True, exist_ok=True)  # postinst's directory
        conf = WORK / "egressd.yaml"
        conf.write_text(in_tree((TREE / CONFIG).read_text()))
        p = run([str(TREE / "usr/sbin/egressd"), "--check-config", "--config", str(conf)])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_egressctl_policy_check_on_the_installed_policy(self) -> None:
        p = run([str(TREE / "usr/bin/egressctl"), "policy", "check",
                 str(TREE / "etc/egressd/policy")])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    @unittest.skipUnless(shutil.which("man"), "man not installed")
    def test_man_pages_render(self) -> None:
        for page, title, words in (
                ("usr/share/man/man8/egressd.8.gz", "EGRESSD(8)",
                 ["egressd [OPTIONS]", "--check-config", "SIGHUP", "/etc/egressd/egressd.yaml",
                  "egressctl(1)"]),
                ("usr/share/man/man1/egressctl.1.gz", "EGRESSCTL(1)",
                 ["egressctl policy check [OPTIONS] DIR", "audit verify", "--strict",
                  "egressd(8)"])):
            p = run(["man", "-l", str(TREE / page)], env={**os.environ, "MANPAGER": "cat",
                                                         "MANWIDTH": "100", "LANG": "C.UTF-8"})
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr.strip(), "", page)  # groff warnings
            text = re.sub(r".\x08", "", p.stdout).replace("\u2010", "-").replace("\u2212", "-")
            self.assertTrue(text.startswith(title), text[:200])
            for w in words:
                self.assertIn(w, text, page)
            self.assertNotIn(str(ROOT), text, "no build path in the page")


# The root part: dpkg in a copy-on-write overlay of / (see the module docstring). Each step runs
# in the same chroot through one shell script; the namespace and its tmpfs end with it.
DPKG_SCRIPT = r"""
set -eu
T=$1 DEB=$2
mount -t tmpfs -o mode=0755 tmpfs "$T"
mkdir "$T/upper" "$T/work" "$T/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$T/root"
R=$T/root
# No systemd runs in the scratch root: the maintainer scripts must not need one.
mount -t tmpfs tmpfs "$R/run"
mount -t tmpfs tmpfs "$R/tmp"
mount --rbind /dev "$R/dev"
mount -t proc proc "$R/proc"
cp "$DEB" "$R/tmp/egressd.deb"
in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C "$@"; }
step() { echo "== $*"; }

step install
in_root dpkg --force-confdef --force-confold -i /tmp/egressd.deb
step user
in_root getent passwd egressd
in_root id -gn egressd
step logdir
in_root stat -c '%U:%G %a' /var/log/egressd
step enabled
in_root readlink /etc/systemd/system/multi-user.target.wants/egressd.service
step check-config
in_root setpriv --reuid=egressd --regid=egressd --init-groups \
    /usr/sbin/egressd --check-config --config /etc/egressd/egressd.yaml
step reinstall
in_root dpkg -i /tmp/egressd.deb
step remove
in_root dpkg -r egressd
in_root sh -c 'ls /etc/egressd/egressd.yaml /usr/sbin/egressd 2>&1 || true'
step purge
in_root dpkg -P egressd
in_root sh -c 'ls -d /etc/egressd /var/log/egressd /etc/systemd/system/multi-user.target.wants/egressd.service 2>&1 || true'
in_root getent passwd egressd
step audit
in_root dpkg --audit
step done
"""


def overlay_usable() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"):
        return False
    return "overlay" in Path("/proc/filesystems").read_text()


@unittest.skipUnless(overlay_usable(), "needs root, unshare, setpriv and overlayfs")
class DpkgInstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        mnt = Path(tempfile.mkdtemp(prefix="egressd-dpkg-"))
        try:
            cls.p = run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                         DPKG_SCRIPT, "sh", str(mnt), str(DEB)], timeout=600)
        finally:
            mnt.rmdir()  # the tmpfs was mounted in the namespace only: this is an empty dir
        cls.steps: dict[str, str] = {}
        name = None
        for line in cls.p.stdout.splitlines():
            if line.startswith("== "):
                name = line[3:]
                cls.steps[name] = ""
            elif name:
                cls.steps[name] += line + "\n"

    def setUp(self) -> None:
        self.assertEqual(self.p.returncode, 0, self.p.stdout + self.p.stderr)
        self.assertIn("done", self.steps)

    def test_postinst_creates_a_system_user(self) -> None:
        fields = self.steps["user"].splitlines()[0].split(":")
        self.assertEqual(fields[0], "egressd")
        self.assertLess(int(fields[2]), 1000, "a system uid")
        self.assertEqual(fields[5], "/var/lib/egressd")
        self.assertEqual(fields[6], "/usr/sbin/nologin")
        self.assertEqual(self.steps["user"].splitlines()[1], "egressd")

    def test_postinst_creates_the_log_directory(self) -> None:
        self.assertEqual(self.steps["logdir"].strip(), "egressd:egressd 750")

    def test_postinst_enables_the_unit(self) -> None:
        self.assertEqual(self.steps["enabled"].strip(), "/lib/systemd/system/egressd.service")

    def test_check_config_as_the_service_user(self) -> None:
        self.assertIn("check-config", self.steps)  # set -e: it passed, or the run stopped there

    def test_no_errors_without_systemd(self) -> None:
        self.assertNotRegex(self.p.stderr, r"(?i)\berror\b|\bwarning\b|command not found",
                            self.p.stderr)

    def test_remove_keeps_conffiles_and_purge_removes_them(self) -> None:
        removed = self.steps["remove"]
        self.assertRegex(removed, r"(?m)^/etc/egressd/egressd.yaml$")  # conffiles stay on remove
        self.assertRegex(removed, r"/usr/sbin/egressd': No such file")
        purged = self.steps["purge"].splitlines()
        self.assertTrue(any("/etc/egressd': No such file" in s for s in purged), purged)
        self.assertTrue(any("multi-user.target.wants/egressd.service': No such file" in s
                            for s in purged), purged)
        self.assertIn("/var/log/egressd", purged, "audit logs are kept on purge")
        self.assertTrue(purged[-1].startswith("egressd:"), "the user stays")

    def test_dpkg_database_is_consistent(self) -> None:
        self.assertEqual(self.steps["audit"].strip(), "")


def main() -> int:
    global WORK, DEB, TREE
    if not shutil.which("dpkg-deb"):
        print("test_package.py: needs dpkg-deb: skipped")
        return 77
    with tempfile.TemporaryDirectory(prefix="egressd-package-") as tmp:
        WORK = Path(tmp)
        deb = find_or_make_deb(WORK)
        if deb is None:
            print("test_package.py: no EGRESS_DEB and no build tree with CPackConfig.cmake: skipped")
            return 77
        DEB = deb
        print(f"package: {DEB}")
        TREE = WORK / "tree"
        run(["dpkg-deb", "-x", str(DEB), str(TREE)], check=True)
        result = unittest.main(verbosity=2, exit=False).result
        return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
