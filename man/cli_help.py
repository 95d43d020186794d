#!/usr/bin/env python3
"""`cli_help.py PROGRAM --help|--version`: what help2man reads to write PROGRAM's man page.

PROGRAM is a CLI11 program. --version passes through. --help prints PROGRAM's own help and the
help of every command under it (CLI11 shows one level at a time), shaped for help2man: one
synopsis line per command, the options, and a *Commands* section with a sub-section per command.
So the man page is generated from the CLI definitions and cannot drift from them. The program
runs with argv[0] set to its base name, so paths of the build tree stay out of the page."""

from __future__ import annotations

import os
import re
import subprocess
import sys


def run(program: str, args: list[str]) -> str:
    p = subprocess.run([os.path.basename(program), *args], executable=program,
                       capture_output=True, text=True, check=True)
    return p.stdout


def blocks(text: str) -> tuple[str, str, dict[str, list[str]]]:
    """(description, usage, heading → lines) of one CLI11 help text."""
    lines = text.rstrip("\n").splitlines()
    description, usage, out = "", "", {}
    heading = None
    for line in lines:
        if line.startswith("Usage: "):
            usage = line[len("Usage: "):]
        elif re.fullmatch(r"\S[^:]*:", line):
            heading = line[:-1]
            out[heading] = []
        elif heading is not None:
            if line.strip():
                out[heading].append(line)
        elif line.strip() and not usage:
            description = line
    return description, usage, out


def commands(program: str, path: list[str]) -> list[tuple[list[str], str]]:
    """Every leaf command under path, depth first, with its help text."""
    text = run(program, [*path, "--help"])
    subs = blocks(text)[2].get("Subcommands", [])
    if not subs:
        return [(path, text)]
    out = []
    for line in subs:
        out += commands(program, [*path, line.split()[0]])
    return out


def options(lines: list[str]) -> list[str]:
    """Option lines without CLI11's own -h,--help (it is on every command)."""
    out, skip = [], False
    for line in lines:
        if re.match(r"\s+-h,--help\b", line):
            skip = True
            continue
        if skip and re.match(r"\s{20,}\S", line):  # the description's continuation
            continue
        skip = False
        out.append(line)
    return out


def main() -> int:
    program, flag = sys.argv[1], sys.argv[2]
    if flag != "--help":
        sys.stdout.write(run(program, [flag]))
        return 0
    top = run(program, ["--help"])
    _, usage, top_blocks = blocks(top)
    leaves = commands(program, []) if "Subcommands" in top_blocks else []
    out = [f"Usage: {usage}"]
    out += [f"  or:  {blocks(text)[1]}" for path, text in leaves]
    out.append("")
    out.append("Options:")
    out += top_blocks.get("Options", [])
    for name, lines in top_blocks.items():
        if name not in ("Options", "Subcommands"):
            out += ["", f"{name}:", *lines]
    if leaves:
        out += ["", "*Commands*"]
        for path, text in leaves:
            description, usage, sub_blocks = blocks(text)
            out += ["", f"{usage}:", f"  {description}", ""]
            for name in ("Positionals", "Options"):
                out += options(sub_blocks.get(name, []))
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
