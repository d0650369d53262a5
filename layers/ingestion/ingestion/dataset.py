"""One dataset's input (docs/contract.md, "Loading data"): a folder (or a downloaded S3 prefix) named by its
dataset_id, holding
`metadata.json` and one results file. `prepare` checks everything before anything is written."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from catalogue_common.vocabulary import LABELS

from . import results
from .problems import Problem, Problems, Refused

METADATA = "metadata.json"


@dataclass(frozen=True)
class Dataset:
    dataset_id: str
    document: dict[str, Any]  # the Elasticsearch document, as given
    rows: pa.Table  # perturb_seq's five value columns
    checksum: str  # sha256 over the input files: an unchanged dataset is recognised by it
    warnings: Problems = field(default_factory=Problems)  # symbols a person should look at (not refused)
    results_file: str = "results"  # the results file's name


def checksum(folder: Path) -> str:
    """sha256 over the names and bytes of metadata.json and the results file(s)."""
    digest = hashlib.sha256()
    for path in sorted([folder / METADATA, *results.find(folder)]):
        if path.is_file():
            digest.update(path.name.encode() + b"\0")
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
    return digest.hexdigest()


def check_metadata(folder: Path, problems: Problems) -> dict[str, Any] | None:
    path = folder / METADATA
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.add(Problem(METADATA, None, None, "missing"))
        return None
    except (ValueError, UnicodeDecodeError) as error:
        problems.add(Problem(METADATA, None, None, f"is not valid JSON: {error}"))
        return None
    if not isinstance(document, dict):
        problems.add(Problem(METADATA, None, None, "must be a JSON object"))
        return None
    dataset_id = document.get("dataset_id")
    if not isinstance(dataset_id, str) or not dataset_id:
        problems.add(Problem(METADATA, None, "dataset_id", "missing"))
    elif dataset_id != folder.name:
        problems.add(Problem(METADATA, None, "dataset_id",
                             f"{dataset_id!r} differs from the folder's name {folder.name!r}"))
    for name in LABELS:
        labels = document.get(f"{name}_labels")
        if labels is not None and (not isinstance(labels, list) or not all(isinstance(v, str) for v in labels)):
            problems.add(Problem(METADATA, None, f"{name}_labels", "must be a list of text"))
        elif labels and len(labels) > 1:
            problems.add(Problem(METADATA, None, f"{name}_labels",
                                 f"holds {len(labels)} entries; the catalogue needs exactly one"))
    return document


def prepare(folder: Path) -> Dataset:
    """The checked dataset, or Refused with every problem found (the first 20 named)."""
    problems, warnings = Problems(), Problems()
    document = check_metadata(folder, problems)
    found = results.find(folder)
    rows = None
    if len(found) != 1:
        problems.add(Problem(folder.name, None, None, "needs exactly one results file, one of "
                             f"{', '.join(results.NAMES)}; found {', '.join(p.name for p in found) or 'none'}"))
    else:
        rows = results.check(found[0], problems, warnings)
    if problems or document is None or rows is None:
        raise Refused(folder.name, problems)
    return Dataset(folder.name, document, rows, checksum(folder), warnings, found[0].name)


def folders(source: Path) -> list[Path]:
    """`source` itself when it is a dataset folder (holds metadata.json), else its sub-folders, by name."""
    if (source / METADATA).exists():
        return [source]
    return sorted(p for p in source.iterdir() if p.is_dir())
