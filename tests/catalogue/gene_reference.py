"""Placement and resolution as the contract words them (docs/contract.md, "Genes"), in plain Python over the gene
reference file itself: its own reading of the file (csv), its own comparisons, nothing shared with the layers."""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

ENSEMBL = re.compile(r"^(ens[a-z]*g[0-9]+)(\.[0-9]+)?$", re.IGNORECASE)


def without_version(name: str) -> str:
    found = ENSEMBL.match(name)
    return found.group(1).lower() if found else name.lower()


@dataclass(frozen=True)
class Gene:
    approved: str
    ensembl: str | None
    previous: tuple[str, ...]
    aliases: tuple[str, ...]


@dataclass
class Resolved:
    genes: set[int] = field(default_factory=set)  # reference genes the term names
    spellings: set[str] = field(default_factory=set)  # stored symbols a filter matches
    ambiguous: list[Gene] | None = None  # the candidates, when the term names several genes by alias
    known: bool = False  # whether the term names anything (a stored symbol or a reference gene)


def read(path: Path | None) -> list[Gene]:
    if path is None:
        return []
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quotechar='"'))
    genes = []
    for row in rows:
        row = {k.strip().lower(): (v or "").strip() for k, v in row.items()}
        split = lambda v: tuple(x.strip() for x in v.split("|") if x.strip())  # noqa: E731
        genes.append(Gene(row["symbol"], row.get("ensembl_gene_id") or None, split(row.get("prev_symbol", "")),
                          split(row.get("alias_symbol", ""))))
    return genes


class Book:
    def __init__(self, genes: list[Gene], stored: set[str]) -> None:
        self.genes, self.stored = genes, stored
        self.placed = {symbol: self.place(symbol) for symbol in stored}

    def place(self, symbol: str) -> int | None:
        """A stored symbol belongs to a gene by its approved symbol (any case), else by its Ensembl ID (version
        ignored), else as a previous symbol or alias of exactly that one gene."""
        lowered = symbol.lower()
        for matches in ([i for i, g in enumerate(self.genes) if g.approved.lower() == lowered],
                        [i for i, g in enumerate(self.genes)
                         if g.ensembl and g.ensembl.lower() == without_version(symbol)]):
            if matches:
                return matches[0] if len(set(matches)) == 1 else None
        others = {i for i, g in enumerate(self.genes) if lowered in {n.lower() for n in (*g.previous, *g.aliases)}}
        return next(iter(others)) if len(others) == 1 else None

    def ensembl(self, symbol: str) -> str | None:
        gene = self.placed.get(symbol)
        return None if gene is None else self.genes[gene].ensembl

    def spellings_of(self, gene: int) -> set[str]:
        return {s for s, g in self.placed.items() if g == gene}

    def resolve(self, term: str) -> Resolved:
        """The six steps, first that applies."""
        exact = [term] if term in self.stored else [s for s in self.stored if s.lower() == term.lower()]
        if exact:
            out = Resolved(known=True)
            for symbol in exact:
                gene = self.placed[symbol]
                out.spellings |= {symbol} if gene is None else self.spellings_of(gene)
                out.genes |= set() if gene is None else {gene}
            return out
        for step in (self._by_ensembl, self._by_approved, self._by_other_name):
            genes = step(term)
            if len(genes) > 1:
                return Resolved(genes, set(), sorted((self.genes[g] for g in genes), key=lambda g: g.approved), True)
            if genes:
                return Resolved(genes, self.spellings_of(next(iter(genes))), None, True)
        return Resolved()

    def _by_ensembl(self, term: str) -> set[int]:
        return {i for i, g in enumerate(self.genes) if g.ensembl and g.ensembl.lower() == without_version(term)}

    def _by_approved(self, term: str) -> set[int]:
        return {i for i, g in enumerate(self.genes) if g.approved.lower() == term.lower()}

    def _by_other_name(self, term: str) -> set[int]:
        return {i for i, g in enumerate(self.genes) if term.lower() in {n.lower() for n in (*g.previous, *g.aliases)}}
