"""How a name is compared with the gene reference (docs/contract.md, "Genes"), in Python (the ingestion writes the
reference's names this way) and in SQL (placement and resolution look them up this way): one definition of each,
side by side, so that the two cannot disagree.

Names compare case-insensitively (lower case); an Ensembl gene ID also without its version (`ENSG00000168385.15`
and `ensg00000168385` are the same gene), which re-analyses append.
"""
from __future__ import annotations

import re
from typing import Literal

NameKind = Literal["approved", "ensembl", "previous", "alias"]
ENSEMBL = re.compile(r"^(ens[a-z]*g[0-9]+)\.[0-9]+$")  # lower case, with a version
ENSEMBL_SQL = r"'^(ens[a-z]*g[0-9]+)\.[0-9]+$'"


def key(name: str) -> str:
    """The form a name is looked up by: lower case, and an Ensembl ID without its version."""
    lowered = name.lower()
    return ENSEMBL.sub(r"\1", lowered)


def key_sql(expression: str) -> str:
    """key() in SQL, over a text expression."""
    return f"regexp_replace(lower({expression}), {ENSEMBL_SQL}, '\\1')"


def is_ensembl(name: str) -> bool:
    """An Ensembl gene ID, with or without a version, in any case."""
    return re.fullmatch(r"ens[a-z]*g[0-9]+(\.[0-9]+)?", name.lower()) is not None
