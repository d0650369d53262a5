"""What the documentation tests read in the project's Markdown: its files, fenced blocks, links and headings."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devtools.docs.api import anchor

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


def files() -> list[Path]:
    """README.md and every Markdown file under docs/ (what a newcomer reads)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def every_file() -> list[Path]:
    """Every Markdown file of the repository (BENCHMARKS.md, RELIABILITY.md, the READMEs of folders too)."""
    skip = {".git", ".venv", ".local", ".aws-sam", ".pytest_cache", ".ruff_cache", "node_modules", "target"}
    return sorted(p for p in ROOT.rglob("*.md") if not skip & set(p.relative_to(ROOT).parts))


@dataclass
class Block:
    """A fenced code block: its info string's first word (`language`), the rest of it, its text, where it is."""
    path: Path
    line: int  # of the opening fence, 1-based
    end: int  # of the closing fence
    language: str
    attributes: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, info = opening.group("fence"), opening.group("info").strip()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        language, _, attributes = info.partition(" ")
        found.append(Block(path, i + 1, j + 1, language, attributes.strip(), "\n".join(lines[i + 1:j])))
        i = j + 1
    return found


def prose(path: Path) -> Iterator[tuple[int, str]]:
    """The lines outside fenced blocks, numbered from 1."""
    inside: str | None = None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        opening = FENCE.match(line)
        if inside is None and opening:
            inside = opening.group("fence")
        elif inside is not None and line.strip().startswith(inside):
            inside = None
        elif inside is None:
            yield number, line


def anchors(path: Path) -> set[str]:
    """The anchors of a file's headings, as GitHub makes them (a repeated heading's gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    result = set()
    for _, line in prose(path):
        if found := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line):
            base = anchor(found.group(1))
            count = seen.get(base, 0)
            result.add(base if count == 0 else f"{base}-{count}")
            seen[base] = count + 1
    return result


LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`[^`]*`")


def links(path: Path) -> Iterator[tuple[int, str]]:
    """Every Markdown link target outside code, with its line."""
    for number, line in prose(path):
        for found in LINK.finditer(INLINE_CODE.sub("", line)):
            yield number, found.group("target")
