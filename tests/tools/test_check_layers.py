#!/usr/bin/env python3
"""tools/check_layers.py on small trees made for each case: a crossing include is reported with its
file and line, an allowed one is not; the table's own faults (a cycle, a folder with no row, a
stale known violation) fail; and the repository's real table parses into the layers it draws."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKER = ROOT / "tools" / "check_layers.py"
sys.dont_write_bytecode = True  # no __pycache__ in tools/
sys.path.insert(0, str(CHECKER.parent))
import check_layers  # noqa: E402

TABLE = """\
| library | may include | what |
|---|---|---|
| `base` | — | shared types |
| `policy` | `base` | decisions |
| `filters` | `policy` | filters |
| `core` | `filters` | sockets |
"""


class Tree:
    """A repository in a temp directory: docs/architecture.md and src/<lib>/ files."""

    def __init__(self, table: str = TABLE, exceptions: str = "") -> None:
        self._dir = tempfile.TemporaryDirectory()
        self.root = Path(self._dir.name)
        doc = ("# Architecture\n\n<!-- layers:begin -->\n" + table + "<!-- layers:end -->\n\n"
               "<!-- layers:exceptions:begin -->\n| library | includes | why |\n|---|---|---|\n"
               + exceptions + "<!-- layers:exceptions:end -->\n")
        self.write("docs/architecture.md", doc)
        for lib in ("base", "policy", "filters", "core"):
            self.write(f"src/{lib}/CMakeLists.txt", f"add_library(egress_{lib} {lib}.cpp)\n")

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))

    def run(self) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(CHECKER), "--root", str(self.root)],
                              capture_output=True, text=True, check=False)

    def close(self) -> None:
        self._dir.cleanup()


class CheckLayersTest(unittest.TestCase):
    def tree(self, **kw) -> Tree:
        t = Tree(**kw)
        self.addCleanup(t.close)
        return t

    def test_an_upward_include_is_reported_with_its_line(self) -> None:
        t = self.tree()
        t.write("src/filters/filter.hpp",
                '#pragma once\n\n#include <string>\n#include "policy/policy.hpp"\n'
                '#include "core/connection.hpp"\n')
        p = t.run()
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("src/filters/filter.hpp:5: filters may not include core "
                      "(docs/architecture.md)", p.stderr)
        self.assertNotIn("filter.hpp:4", p.stderr)  # policy is allowed: not reported

    def test_allowed_includes_pass_directly_and_through_the_closure(self) -> None:
        t = self.tree()
        t.write("src/core/session.cpp",
                '#include "core/session.hpp"\n#include "filters/chain.hpp"\n'
                '#include "base/ip_address.hpp"\n#include "version.hpp"\n#include <net/if.h>\n')
        t.write("src/base/ip_address.hpp", '#pragma once\n#include "base/side.hpp"\n')
        p = t.run()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stderr, "")

    def test_a_sideways_include_in_a_source_file_is_reported(self) -> None:
        t = self.tree()
        t.write("src/base/sub/x.cpp", '#include "base/x.hpp"\n\n  #  include "policy/model.hpp"\n')
        p = t.run()
        self.assertEqual(p.returncode, 1)
        self.assertIn("src/base/sub/x.cpp:3: base may not include policy", p.stderr)

    def test_has_include_counts_as_an_include(self) -> None:
        t = self.tree()
        t.write("src/policy/engine.cpp", '#if __has_include("filters/tls_identity.hpp")\n#endif\n')
        p = t.run()
        self.assertEqual(p.returncode, 1)
        self.assertIn("src/policy/engine.cpp:1: policy may not include filters", p.stderr)

    def test_an_upward_link_is_reported(self) -> None:
        t = self.tree()
        t.write("src/policy/CMakeLists.txt",
                "# egress_core in a comment is no link\n"
                "add_library(egress_policy x.cpp)\n"
                "target_link_libraries(egress_policy PUBLIC egress_base egress_core)\n")
        p = t.run()
        self.assertEqual(p.returncode, 1)
        self.assertIn("src/policy/CMakeLists.txt:3: policy may not include core", p.stderr)
        self.assertNotIn("CMakeLists.txt:1", p.stderr)

    def test_a_folder_with_no_row_fails(self) -> None:
        t = self.tree()
        t.write("src/dns/resolver.cpp", "int x;\n")
        p = t.run()
        self.assertEqual(p.returncode, 1)
        self.assertIn("src/dns: a library with no row in the layer table", p.stderr)

    def test_a_cycle_in_the_table_fails(self) -> None:
        t = self.tree(table=TABLE.replace("| `base` | — |", "| `base` | `core` |"))
        p = t.run()
        self.assertEqual(p.returncode, 1)
        self.assertIn("the layer table has a cycle: base -> core -> filters -> policy -> base",
                      p.stderr)

    def test_a_row_naming_a_library_with_no_row_fails(self) -> None:
        t = self.tree(table=TABLE.replace("| `policy` | `base` |", "| `policy` | `bsae` |"))
        p = t.run()
        self.assertEqual(p.returncode, 1)
        self.assertIn("`policy` names `bsae`, which has no row", p.stderr)

    def test_a_known_violation_is_accepted_and_only_that_one(self) -> None:
        t = self.tree(exceptions="| `filters` | `core` | being fixed |\n")
        t.write("src/filters/filter.hpp", '#include "core/connection.hpp"\n')
        t.write("src/policy/x.hpp", '#include "core/connection.hpp"\n')
        p = t.run()
        self.assertEqual(p.returncode, 1)
        self.assertIn("src/filters/filter.hpp:1: known violation: filters includes core", p.stdout)
        self.assertIn("src/policy/x.hpp:1: policy may not include core", p.stderr)
        self.assertNotIn("filters may not include", p.stderr)

    def test_a_known_violation_that_no_longer_occurs_fails(self) -> None:
        t = self.tree(exceptions="| `filters` | `core` | being fixed |\n")
        p = t.run()
        self.assertEqual(p.returncode, 1)
        self.assertIn("the known violation filters -> core no longer occurs: delete its row",
                      p.stderr)

    def test_a_page_without_the_table_fails(self) -> None:
        t = self.tree()
        t.write("docs/architecture.md", "# Architecture\n\nno table\n")
        p = t.run()
        self.assertEqual(p.returncode, 1)
        self.assertIn("no '<!-- layers:begin -->' block", p.stderr)

    def test_the_repository_table_draws_the_target_layers(self) -> None:
        table = check_layers.read_table(ROOT / "docs" / "architecture.md")
        self.assertEqual(check_layers.table_errors(table), [])
        may = check_layers.allowed(table)
        self.assertEqual(may["base"], {"base"})
        self.assertNotIn("core", may["filters"])
        self.assertNotIn("policy_source", may["policy"])  # policy stays pure: no files, no git
        for lib in table.deps:
            if lib not in ("core", "cli"):
                self.assertNotIn("core", may[lib], lib)
        self.assertEqual(may["cli"], set(table.deps))  # cli is on top of everything


if __name__ == "__main__":
    unittest.main(verbosity=2)
