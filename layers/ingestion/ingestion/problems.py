"""A refusal: the first problems found in a dataset's files, each with file, line, column and reason
(docs/contract.md, "Loading data")."""
from __future__ import annotations

from dataclasses import dataclass, field

MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None  # 1 is the header line of a results file; None for the file as a whole
    column: str | None
    reason: str

    def __str__(self) -> str:
        unit = "row" if self.file.endswith(".parquet") else "line"
        where = self.file + (f", {unit} {self.line}" if self.line else "") + (
            f", column {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass
class Problems:
    """Every problem is counted; the first MAX_PROBLEMS (by file and line) are reported."""

    found: list[Problem] = field(default_factory=list)
    total: int = 0

    def add(self, problem: Problem) -> None:
        self.extend([problem], 1)

    def extend(self, problems: list[Problem], total: int) -> None:
        """Some of `total` problems of one kind (the first ones)."""
        self.total += total
        self.found = sorted([*self.found, *problems], key=lambda p: (p.file, p.line or 0))[:MAX_PROBLEMS]

    def __bool__(self) -> bool:
        return self.total > 0

    def report(self) -> str:
        more = self.total - len(self.found)
        return "\n".join([str(p) for p in self.found] + ([f"... and {more} more problems"] if more > 0 else []))


class Refused(Exception):
    """The dataset was refused: nothing was changed."""

    def __init__(self, dataset_id: str, problems: Problems) -> None:
        super().__init__(f"dataset {dataset_id} refused:\n{problems.report()}")
        self.dataset_id, self.problems = dataset_id, problems
