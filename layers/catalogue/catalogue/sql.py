"""SQL pieces that several endpoints' queries share: bind-parameter numbering and the direction predicates."""
from __future__ import annotations

from typing import Any, Literal

Direction = Literal["increased", "decreased"]
# NaN compares above every number in PostgreSQL, so "> 0" alone would call NaN an increase.
DIRECTION_SQL = {"increased": "{r}.log2foldchange > 0 AND {r}.log2foldchange <> 'NaN'",
                 "decreased": "{r}.log2foldchange < 0"}


class Params:
    """Collects bind values and hands out their $n placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"
