"""No link of the repository's Markdown (README.md, docs/, BENCHMARKS.md, ...) leaves the repository: every one
names a file (and heading) inside it."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.markdown import ROOT, anchors, every_file, links, prose


def resolve(source: Path, target: str) -> tuple[Path, str]:
    path, _, fragment = target.partition("#")
    return (source if not path else (source.parent / path).resolve()), fragment


@pytest.mark.parametrize("path", every_file(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(path: Path) -> None:
    problems = []
    for line, target in links(path):
        where = f"{path.relative_to(ROOT)}:{line}: {target}"
        if "://" in target or target.startswith(("mailto:", "//")):
            problems.append(f"{where}: leaves the repository")
            continue
        file, fragment = resolve(path, target)
        if not file.is_relative_to(ROOT):
            problems.append(f"{where}: outside the repository")
        elif not file.exists():
            problems.append(f"{where}: no such file")
        elif fragment and (file.suffix != ".md" or fragment not in anchors(file)):
            problems.append(f"{where}: no heading #{fragment} in {file.relative_to(ROOT)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", every_file(), ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_names_the_specification_outside_the_repository(path: Path) -> None:
    """The contract is docs/contract.md: no text sends a reader to a file a clone does not have."""
    assert not [f"{path.relative_to(ROOT)}:{n}" for n, line in prose(path) if "shared/SPEC" in line]


def test_readme_is_read_to_the_end() -> None:
    """The issue's limit: the README says purpose, two commands, targets, layout and where to read on."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200
