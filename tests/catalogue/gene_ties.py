"""Datasets written for GET /v1/genes/{gene}/rows (docs/contract.md, "Rows of a gene"), as input files
(docs/contract.md, "Input files"): one gene, SEPTIN2, with many rows tied at padj = 1 in both roles, under its three
spellings across datasets (SEPT2, SEPTIN2, ENSG00000168385.15: placed on one gene by the test reference,
tests/data/gene_reference.tsv).

Why its own data: the demo data has no padj = 1 (its padj are drawn, not capped), but real DESeq2 output caps padj
at 1 for thousands of a gene's rows, and a keyset that ended at padj would re-read the whole tie on every page. So:
* `tied` rows of the gene as perturbation, spread over `datasets` datasets, all at padj = 1, each spelling in its own
  datasets, and in the first dataset two spellings against the same phenotypes (only the spelling orders them);
* as many as phenotype, measured under perturbations P00000...;
* in the first dataset, the gene against phenotypes X.. with every combination of special fold changes (NULL, NaN,
  +-Infinity, 0, exactly +-1, just under 1) and special padj (NULL, NaN, 0, exactly 0.05, just over it, 1): the
  threshold filters' edges, and a walk that crosses numbers, NaN and NULL;
* a dataset of TP53 rows, which the gene filter must leave out.
"""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

GENE = "SEPTIN2"
SPELLINGS = ("SEPT2", "SEPTIN2", "ENSG00000168385.15")
SPECIAL_LOG2FC = (None, math.nan, math.inf, -math.inf, 0.0, 1.0, -1.0, 0.9999999999999999, 2.5, -2.5)
SPECIAL_PADJ = (None, math.nan, 0.0, 0.05, 0.05000000000000001, 1e-300, 0.5, 1.0)
HEADER = "perturbed_target_symbol\tgene\tlog2foldchange\tpadj\tbasemean\n"


def text(value: float | None) -> str:
    """A double as input files write it (docs/contract.md, "Input files"): NA for NULL, NaN, Inf, -Inf, else the
    shortest round-trip text."""
    if value is None:
        return "NA"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return repr(value)


def dataset(folder: Path, dataset_id: str, rows: list[tuple[str, str, float | None, float | None, float]]) -> Path:
    """One dataset's folder: its metadata.json and its rows (perturbation, phenotype, log2fc, padj, basemean)."""
    target = folder / dataset_id
    target.mkdir(parents=True)
    (target / "metadata.json").write_text(json.dumps({"dataset_id": dataset_id, "tissue_labels": ["blood"],
                                                      "library_perturbation_type_labels": ["knockdown"]}))
    (target / "results.tsv").write_text(HEADER + "".join(f"{p}\t{g}\t{text(f)}\t{text(q)}\t{b!r}\n"
                                                         for p, g, f, q, b in rows))
    return target


def _tied(rng: random.Random, spelling: str, names: range, role: str) -> list[tuple]:
    """The gene under `spelling` against one partner per name, every row at padj = 1."""
    out = []
    for j in names:
        partner = f"G{j:05d}" if role == "perturbation" else f"P{j:05d}"
        pair = (spelling, partner) if role == "perturbation" else (partner, spelling)
        out.append((*pair, round(rng.gauss(0, 0.3), 6), 1.0, round(rng.uniform(1, 500), 3)))
    return out


def _specials() -> list[tuple]:
    return [("SEPT2", f"X{i:02d}_{j}", f, q, 10.0 + i)
            for i, f in enumerate(SPECIAL_LOG2FC) for j, q in enumerate(SPECIAL_PADJ)]


def write(folder: Path, tied: int = 1300, datasets: int = 3, seed: int = 7) -> list[Path]:
    """The datasets `gene_ties_00`... (plus `gene_ties_tp53`) under `folder`; `tied` rows of the gene at padj = 1
    in each role."""
    rng = random.Random(seed)
    per = math.ceil(tied / datasets)
    written = []
    for i in range(datasets):
        spelling, names = SPELLINGS[i % len(SPELLINGS)], range(i * per, min(tied, (i + 1) * per))
        rows = _tied(rng, spelling, names, "perturbation") + _tied(rng, spelling, names, "phenotype")
        if i == 0:  # a second spelling against the same phenotypes, and every special value
            rows += _tied(rng, SPELLINGS[1], range(names.start, names.start + min(100, len(names))), "perturbation")
            rows += _specials()
        written.append(dataset(folder, f"gene_ties_{i:02d}", rows))
    tp53 = [("TP53", f"G{j:05d}", rng.gauss(0, 1), rng.choice([1.0, 0.01, 0.5]), 5.0) for j in range(200)]
    written.append(dataset(folder, "gene_ties_tp53", tp53))
    return written
