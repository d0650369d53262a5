"""Bind parameters for the catalogue's hand-written SQL: each value gets its `$n` placeholder as it is used, so a
query composed from pieces stays parameterised (no value is ever written into SQL text)."""
from __future__ import annotations

from typing import Any


class Params:
    """Collects bind values and hands out their $n placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def conjunction(predicates: list[str], indent: str = "\n      ") -> str:
    """`a AND b AND ...` (true when empty)."""
    return f"{indent}AND ".join(predicates) if predicates else "true"


def with_items(ctes: dict[str, str]) -> str:
    """Named subqueries as the items of a WITH clause, in order: `name AS (body)`, comma-separated."""
    return ",\n".join(f"{name} AS ({body}\n)" for name, body in ctes.items())
