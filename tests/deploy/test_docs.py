#!/usr/bin/env python3
"""docs/deployment.md and docs/docker-compose.md: every redirect-rules.sh command they show is
accepted by the script (--dry-run, in a new network namespace when root), every egressd config
they and the README show (a ```yaml document with `listeners`) uses only contract keys, and
every repository file they name exists. Every page of docs/ and the README: its links to other
files resolve."""

from __future__ import annotations

import re
import shlex
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import yaml  # noqa: E402
from deploylib import ROOT, config_key_errors, redirect_dry_run  # noqa: E402

DOCS = [ROOT / "docs" / "deployment.md", ROOT / "docs" / "docker-compose.md"]


class DocsTest(unittest.TestCase):
    def test_redirect_commands_are_valid(self) -> None:
        found = 0
        for doc in DOCS:
            text = doc.read_text().replace("\\\n", " ")
            for m in re.finditer(r"scripts/redirect-rules\.sh (install [^`\n|]*)", text):
                cmd = m.group(1).strip()
                if "<" in cmd or "..." in cmd:
                    continue  # a template, not a command
                found += 1
                with self.subTest(doc=doc.name, cmd=cmd):
                    p = redirect_dry_run(shlex.split(cmd))
                    self.assertEqual(p.returncode, 0, p.stderr)
        self.assertGreaterEqual(found, 2)

    def test_config_snippets_use_contract_keys(self) -> None:
        found = 0
        for doc in DOCS + [ROOT / "README.md"]:
            blocks = re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)
            for config in (d for b in blocks for d in yaml.safe_load_all(b)):
                if not isinstance(config, dict) or "listeners" not in config:
                    continue  # a policy, a CI job, a compose file: not an egressd config
                found += 1
                with self.subTest(doc=doc.name, keys=sorted(config)):
                    self.assertEqual(config_key_errors(config), [])
        self.assertGreaterEqual(found, 3)

    def test_named_repository_files_exist(self) -> None:
        for doc in DOCS:
            for path in set(re.findall(r"`((?:deploy|scripts|docs|certs|policy|config)/[\w./-]+)`",
                                       doc.read_text())):
                if path in ("config/egressd.yaml", "docs/config.md", "docs/audit.md"):
                    continue  # other issues' files (the data path and the audit log)
                with self.subTest(doc=doc.name, path=path):
                    self.assertTrue((ROOT / path.rstrip("/")).exists(), path)

    def test_links_between_docs_resolve(self) -> None:
        # docs/config.md once sent readers to a DESIGN.md that is not in the repository.
        pages = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
        links = 0
        for doc in pages:
            text = doc.read_text()
            self.assertFalse("DESIGN.md" in text, f"{doc.name} names DESIGN.md, not in the repository")
            for target in re.findall(r"\]\(([^)\s]+)\)", text):
                if re.match(r"[a-z]+:", target) or target.startswith("#"):
                    continue  # a URL or an anchor of the same page
                links += 1
                with self.subTest(doc=doc.name, link=target):
                    self.assertTrue((doc.parent / target.split("#")[0]).exists(), target)
        self.assertGreaterEqual(links, 10)


if __name__ == "__main__":
    unittest.main(verbosity=2)
