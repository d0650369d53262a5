"""The search answer (docs/contract.md, "Search"): a list with one element per dataset, each the dataset object and
its top groups with their top rows. Each group, and each dataset's list of groups, is JSON bytes of its own, whether
computed for the request or written by the ingestion when the dataset was loaded (its groups and its filter-free
answers): an answer is assembled from them by concatenation, so the whole catalogue's answer costs no re-encoding of
what was stored.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import Any, NamedTuple

import orjson

from ..objects import change, gene
from ..vocabulary import Role, other

# grouping -> (key of a dataset element's groups, key of a group's rows)
LAYOUT: dict[Role, tuple[str, str]] = {"perturbation": ("by_perturbation", "change_phenotype"),
                                       "phenotype": ("by_phenotype", "perturbation_change")}
LAYOUT_KEYS: dict[Role, bytes] = {role: f',"{groups}":'.encode() for role, (groups, _) in LAYOUT.items()}


class DatasetGroups(NamedTuple):
    """One dataset's part of an answer: its position among the candidates (1-based) and its groups as JSON. A named
    tuple: a common gene's whole answer makes 1,128 of them a request, 0.16 µs each where a frozen dataclass took
    0.34."""
    ord: int
    dataset_id: str
    groups: bytes


@dataclass(frozen=True)
class Group:
    """One group of a dataset's answer: the dataset's position (1-based), the group's rank in the dataset (1-based),
    its gene as the dataset spells it, and its JSON (the group's gene object and its top rows)."""
    ord: int
    dataset_id: str
    rank: int
    gene_name: str
    json: bytes


def by_group(group_by: Role, records: Iterable[Any]) -> Iterator[Group]:
    """The query's records (ordered by dataset, group rank, row rank) as groups, in order."""
    current: dict[str, Any] | None = None
    last: Any = None
    for r in records:
        if current is None or r["ord"] != last["ord"] or r["rank"] != last["rank"]:
            if current is not None:
                yield Group(last["ord"], last["dataset_id"], last["rank"], last["grp"], orjson.dumps(current))
            current = _group(group_by, r)
        current[LAYOUT[group_by][1]].append(_row(group_by, r))
        last = r
    if current is not None:
        yield Group(last["ord"], last["dataset_id"], last["rank"], last["grp"], orjson.dumps(current))


def by_dataset(group_by: Role, records: Iterable[Any]) -> Iterator[DatasetGroups]:
    """The query's records (ordered by dataset, group rank, row rank) as each dataset's groups, in order."""
    for (ord_, dataset_id), found in groupby(by_group(group_by, records), key=lambda g: (g.ord, g.dataset_id)):
        yield DatasetGroups(ord_, dataset_id, joined([g.json for g in found]))


def joined(groups: list[bytes]) -> bytes:
    """A dataset's groups (each one's JSON, in rank order) as the JSON list its answer holds."""
    return b"[" + b",".join(groups) + b"]"


def _group(group_by: Role, r: Any) -> dict[str, Any]:
    return {group_by: gene(group_by, r["grp"], r["grp_ensembl"], r["n_total"], r["n_up"], r["n_down"],
                           r["base_mean"]),
            LAYOUT[group_by][1]: []}


def _row(group_by: Role, r: Any) -> dict[str, Any]:
    partner = gene(other(group_by), r["other"], r["other_ensembl"], r["other_n_total"], r["other_n_up"],
                   r["other_n_down"], r["other_base_mean"])
    effect = change(r["log2foldchange"], r["padj"])
    return {"change": effect, "phenotype": partner} if group_by == "perturbation" else \
        {"perturbation": partner, "change": effect}


def element(group_by: Role, dataset: bytes, groups: bytes) -> tuple[bytes, ...]:
    """One element of the answer, as its parts: the dataset object's JSON and its groups' JSON, with the keys."""
    return b'{"dataset":', dataset, LAYOUT_KEYS[group_by], groups, b"}"


def listing(elements: Iterable[tuple[bytes, ...]]) -> bytes:
    """The answer: a JSON list of the elements, written in one copy (a whole-catalogue answer is megabytes: joining
    each element first, then the list, copied it three times over)."""
    parts = [b"["]
    for element in elements:
        parts += (*element, b",")
    parts[-1] = b"]" if len(parts) > 1 else b"[]"
    return b"".join(parts)
