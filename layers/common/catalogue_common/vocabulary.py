"""The catalogue's words, each defined once for the API, the ingestion, the development tools and the tests: the
dataset labels, the two roles a gene plays, what "significant", "increased" and "decreased" mean, and the row
filters (docs/contract.md, "Data" and "Thresholds").

Why one place: the direction predicate lived in the API's SQL and again in the ingestion's summaries; a change to
one (NaN, say) would have made the summaries count rows the API's filter does not match.
"""
from __future__ import annotations

import math
from typing import Literal

# The dataset document's label fields, without their `_labels` suffix, in output order.
LABELS = ("tissue", "cell_type", "cell_line", "sex", "developmental_stage", "disease", "library_perturbation_type")
Label = Literal["tissue", "cell_type", "cell_line", "sex", "developmental_stage", "disease",
                "library_perturbation_type"]

# A gene's two roles: the perturbed gene of a row (column perturbed_target_symbol) or its measured phenotype (gene).
Role = Literal["perturbation", "phenotype"]
ROLES: tuple[Role, ...] = ("perturbation", "phenotype")
COLUMN: dict[Role, str] = {"perturbation": "perturbed_target_symbol", "phenotype": "gene"}
# Each role's summary relation (significant rows per dataset and gene): n_total, n_up, n_down (and base_mean for
# phenotypes). Production keeps them as materialised views; the project's loader may keep them as tables.
SUMMARY: dict[Role, str] = {"perturbation": "perturb_seq_summary_perturbation",
                             "phenotype": "perturb_seq_summary_effect"}


def other(role: Role) -> Role:
    return "phenotype" if role == "perturbation" else "perturbation"


Direction = Literal["increased", "decreased"]
SIGNIFICANT_PADJ = 0.05

# SQL over a perturb_seq row aliased `{r}`. PostgreSQL orders NaN above every number: `padj <= 0.05` is false for
# NaN (and NULL), but `log2foldchange > 0` would call NaN an increase, so NaN is excluded explicitly.
SIGNIFICANT = "{r}.padj <= 0.05"
DIRECTION_SQL: dict[Direction, str] = {"increased": "{r}.log2foldchange > 0 AND {r}.log2foldchange <> 'NaN'",
                                       "decreased": "{r}.log2foldchange < 0"}


def significant(r: str = "perturb_seq") -> str:
    """The predicate "this row is significant" (padj <= 0.05; NULL and NaN never are)."""
    return SIGNIFICANT.format(r=r)


def direction_sql(direction: Direction, r: str = "perturb_seq") -> str:
    """The predicate "this row's change has `direction`"; zero, NULL and NaN have none."""
    return DIRECTION_SQL[direction].format(r=r)


def direction(log2fc: float | None) -> Direction | None:
    """A change's direction, as direction_sql selects it: zero, NULL and NaN have none."""
    if log2fc is None or math.isnan(log2fc) or log2fc == 0:
        return None
    return "increased" if log2fc > 0 else "decreased"


def max_padj_sql(parameter: str, r: str = "r") -> str:
    """Rows with padj <= the parameter: NULL never passes, nor NaN (above every number)."""
    return f"{r}.padj <= {parameter}"


def min_abs_log2fc_sql(parameter: str, r: str = "r") -> str:
    """Rows with |log2 fold change| >= the parameter: NULL and NaN never pass, +-Infinity do."""
    return f"abs({r}.log2foldchange) >= {parameter} AND {r}.log2foldchange <> 'NaN'"
