#!/usr/bin/env python3
"""The include check of docs/architecture.md: no #include crosses the layers the page draws.

Reads the layer table (between `<!-- layers:begin -->` and `<!-- layers:end -->`) and the table of
known violations (between `<!-- layers:exceptions:begin -->` and `<!-- layers:exceptions:end -->`)
from docs/architecture.md, so the page and the check cannot disagree. A library may include its
own folder, the libraries its row names, and whatever those may include (the closure).

Fails (exit 1), one line per finding, when:
  * a file of src/<lib>/ includes (`#include "other/..."` or `__has_include("other/...")`) a
    library <lib> may not include: `file:line: <lib> may not include <other> (docs/architecture.md)`;
  * src/<lib>/CMakeLists.txt links `egress_<other>` that <lib> may not include;
  * a folder of src/ has no row, a row names a library that has no row, or the table has a cycle;
  * a known violation no longer occurs (delete its row: the page must stay true).
A table row without a src/ folder yet (a library being created) is a note, not a failure.

Usage: check_layers.py [--root DIR]   (DIR: the repository, default: this script's parent's parent)
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

DOC = "docs/architecture.md"
INCLUDE = re.compile(r'^\s*#\s*(?:include\s*"|.*__has_include\s*\(\s*")([A-Za-z0-9_]+)/')
LINKED = re.compile(r"\begress_([a-z0-9_]+)\b")
SOURCES = {".hpp", ".cpp", ".h", ".cc", ".ipp", ".in"}


@dataclass
class Table:
    deps: dict[str, list[str]] = field(default_factory=dict)  # library -> what its row names
    exceptions: dict[tuple[str, str], int] = field(default_factory=dict)  # (from, to) -> doc line


def _block(lines: list[str], name: str) -> list[tuple[int, list[str]]]:
    """The table rows between <!-- name:begin --> and <!-- name:end -->: (line number, cells)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    rows, inside, seen = [], False, False
    for number, line in enumerate(lines, 1):
        if line.strip() == begin:
            inside, seen = True, True
        elif line.strip() == end:
            inside = False
        elif inside and line.lstrip().startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells and not re.fullmatch(r":?-+:?", cells[0]) and cells[0].lower() != "library":
                rows.append((number, cells))
    if not seen:
        raise ValueError(f"{DOC}: no '{begin}' block")
    return rows


def _names(cell: str) -> list[str]:
    return re.findall(r"`([A-Za-z0-9_]+)`", cell)


def read_table(doc: Path) -> Table:
    lines = doc.read_text().splitlines()
    table = Table()
    for number, cells in _block(lines, "layers"):
        names = _names(cells[0])
        if len(names) != 1 or len(cells) < 2:
            raise ValueError(f"{DOC}:{number}: a layer row is | `library` | `dep`, ... | ... |")
        if names[0] in table.deps:
            raise ValueError(f"{DOC}:{number}: `{names[0]}` has two rows")
        table.deps[names[0]] = _names(cells[1])
    for number, cells in _block(lines, "layers:exceptions"):
        a, b = _names(cells[0]), _names(cells[1]) if len(cells) > 1 else []
        if len(a) != 1 or len(b) != 1:
            raise ValueError(f"{DOC}:{number}: an exception row is | `library` | `included` | why |")
        table.exceptions[(a[0], b[0])] = number
    return table


def table_errors(table: Table) -> list[str]:
    errors = []
    for lib, deps in table.deps.items():
        for d in deps:
            if d not in table.deps:
                errors.append(f"{DOC}: `{lib}` names `{d}`, which has no row")
    # A cycle: depth-first search with colours, reporting the path once.
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(lib: str) -> None:
        state[lib] = 1
        path.append(lib)
        for d in table.deps.get(lib, []):
            if state.get(d) == 1:
                cycle = path[path.index(d):] + [d]
                errors.append(f"{DOC}: the layer table has a cycle: {' -> '.join(cycle)}")
            elif d in table.deps and d not in state:
                visit(d)
        path.pop()
        state[lib] = 2

    for lib in table.deps:
        if lib not in state:
            visit(lib)
    return errors


def allowed(table: Table) -> dict[str, set[str]]:
    """Each library's closure: itself, its row's libraries and theirs."""
    out: dict[str, set[str]] = {}
    for lib in table.deps:
        seen, todo = {lib}, list(table.deps[lib])
        while todo:
            d = todo.pop()
            if d not in seen:
                seen.add(d)
                todo.extend(table.deps.get(d, []))
        out[lib] = seen
    return out


def check(root: Path) -> tuple[list[str], list[str]]:
    """(errors, notes) for the tree at root."""
    try:
        table = read_table(root / DOC)
    except (OSError, ValueError) as e:
        return [str(e)], []
    errors, notes = table_errors(table), []
    if errors:
        return errors, notes
    may = allowed(table)
    src = root / "src"
    folders = sorted(p.name for p in src.iterdir() if p.is_dir())
    for lib in folders:
        if lib not in table.deps:
            errors.append(f"src/{lib}: a library with no row in the layer table ({DOC})")
    for lib in table.deps:
        if lib not in folders:
            notes.append(f"note: `{lib}` has a row in {DOC} but no src/{lib} yet")
    used: set[tuple[str, str]] = set()

    def crossing(where: str, lib: str, other: str) -> None:
        if other not in table.deps or other in may.get(lib, {lib}):
            return
        if (lib, other) in table.exceptions:
            used.add((lib, other))
            notes.append(f"{where}: known violation: {lib} includes {other}")
            return
        errors.append(f"{where}: {lib} may not include {other} ({DOC})")

    for lib in folders:
        if lib not in table.deps:
            continue
        for path in sorted((src / lib).rglob("*")):
            rel = path.relative_to(root)
            if path.name == "CMakeLists.txt":
                for number, line in enumerate(path.read_text().splitlines(), 1):
                    for other in LINKED.findall(line.split("#", 1)[0]):
                        crossing(f"{rel}:{number}", lib, other)
            elif path.suffix in SOURCES and path.is_file():
                for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                    m = INCLUDE.match(line)
                    if m:
                        crossing(f"{rel}:{number}", lib, m.group(1))
    for (lib, other), number in sorted(table.exceptions.items()):
        if (lib, other) not in used:
            errors.append(f"{DOC}:{number}: the known violation {lib} -> {other} no longer occurs: "
                          "delete its row")
    return errors, notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    errors, notes = check(args.root)
    for n in notes:
        print(n)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"check_layers: {len(errors)} error(s)", file=sys.stderr)
        return 1
    print("check_layers: every include and link stays within the layers of " + DOC)
    return 0


if __name__ == "__main__":
    sys.exit(main())
