"""Commands a newcomer pastes from the documentation work as written, from the repository's root.

A `sh` block holds commands to paste (a `console` block shows a session, prompt and output included, and is not
checked). Every `make` target named in a `sh` block or in inline code exists in the Makefile; every `python -m`
runs the project's interpreter with the layers on PYTHONPATH, as the Makefile does, and names a module that exists.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from tests.docs.markdown import ROOT, blocks, files, prose

MAKEFILE = (ROOT / "Makefile").read_text()
TARGETS = set(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", MAKEFILE, re.MULTILINE))
PATTERNS = [re.compile(re.escape(p).replace("%", r"[\w-]+") + "$")
            for p in re.findall(r"^([\w-]*%[\w-]*)\s*:", MAKEFILE, re.MULTILINE)]
PYTHONPATH = "PYTHONPATH=layers/common:layers/catalogue:layers/ingestion"
MAKE = re.compile(r"(?:^|[;&|(]\s*|\s)make\s+([^;&|)#]*)")


def is_target(name: str) -> bool:
    return name in TARGETS or any(p.match(name) for p in PATTERNS)


def make_targets(line: str) -> list[str]:
    """The targets of every `make` in a command line (variables such as ROWS=1 are not targets)."""
    names = []
    for found in MAKE.finditer(line):
        for word in found.group(1).split():
            if not re.fullmatch(r"[A-Za-z][\w-]*", word):
                break  # a variable (ROWS=1), an option, a placeholder: the targets come first
            names.append(word)
    return names


def commands(path: Path) -> list[tuple[str, str]]:
    """(where, command line) of every line of the file's `sh` blocks, continuation lines joined."""
    found = []
    for block in blocks(path):
        if block.language not in ("sh", "bash", "shell"):
            continue
        joined = block.text.replace("\\\n", " ")
        for offset, line in enumerate(joined.splitlines()):
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                found.append((f"{block.where}+{offset + 1}", line))
    return found


@pytest.mark.parametrize("path", files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_make_targets_exist(path: Path) -> None:
    named = [(where, t) for where, line in commands(path) for t in make_targets(line)]
    for number, line in prose(path):
        for code in re.findall(r"`([^`]*)`", line):
            if code.startswith("make "):
                named += [(f"{path.relative_to(ROOT)}:{number}", t) for t in make_targets(code)]
    assert not [f"{where}: make {t}" for where, t in named if not is_target(t)]


@pytest.mark.parametrize("path", files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_python_commands_run_as_the_makefile_runs_them(path: Path) -> None:
    problems = []
    for where, line in commands(path):
        for found in re.finditer(r"(\S*python[\d.]*) -m ([\w.]+)", line):
            interpreter, module = found.groups()
            if not line.startswith(PYTHONPATH) or interpreter != ".venv/bin/python":
                problems.append(f"{where}: `{line}` needs `{PYTHONPATH} .venv/bin/python -m ...` (or a make target)")
            elif importlib.util.find_spec(module) is None:
                problems.append(f"{where}: no module {module}")
    assert not problems, "\n".join(problems)


def test_the_checks_see_commands() -> None:
    assert make_targets("make demo") == ["demo"]
    assert make_targets("export A=1; make ingest SOURCE=x") == ["ingest"]
    assert make_targets("make up && make data ROWS=1") == ["up", "data"]
    assert is_target("deploy-dev") and not is_target("nope")
