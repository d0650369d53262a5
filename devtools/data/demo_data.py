"""Deterministic, realistic Perturb-seq demo data: the same (rows, seed, datasets) gives byte-identical output.

    python -m devtools.data.demo_data <folder> [--rows 200000] [--seed 1] [--datasets 12] [--sizes spread|heavy]

Each dataset is a grid of perturbations x measured phenotype genes (one differential-expression row per pair).
Sizes (`--sizes`): `spread` (the default) spans three orders of magnitude and the largest dataset holds 40 % of the
rows; `heavy` is a real catalogue's heavy tail: one dataset in 200 is genome-wide (together half the rows, millions
each at 100 M rows), the others log-normal around a median of a few tens of thousands of rows. Most rows are not
significant; a per-perturbation strength decides how many are, with padj down to 1e-40 and heavy-tailed
log2 fold changes. About 1 % of padj are NULL, and a few values are NULL, NaN, +-Infinity or exactly 0, so
that the API's handling of them is exercised on every data set.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

LABEL_FIELDS = ("tissue", "cell_type", "cell_line", "sex", "developmental_stage", "disease",
                "library_perturbation_type")
MAX_GENES = 8000
MIN_ROWS_PER_DATASET = 4
MAX_DATASETS = 2000
SIZES = ("spread", "heavy")
GENOME_WIDE_EVERY = 200  # heavy: one dataset in this many is genome-wide
GENOME_WIDE_SHARE = 0.5  # heavy: the genome-wide datasets' share of the rows

# dataset_id, then the seven labels in LABEL_FIELDS order.
REAL_DATASETS = [
    ("replogle_2022_k562_gw", "blood", "lymphoblast", "K562 cell", "female", "adult",
     "chronic myelogenous leukemia", "knockdown"),
    ("adamson_2016_pilot", "blood", "lymphoblast", "K562 cell", "female", "adult",
     "chronic myelogenous leukemia", "knockdown"),
    ("datlinger_2017", "blood", "T cell", "JURKAT cell", "male", "adolescent",
     "T-cell acute lymphoblastic leukemia", "knockout"),
    ("nadig_2025_jurkat", "blood", "T cell", "JURKAT cell", "male", "adolescent",
     "T-cell acute lymphoblastic leukemia", "knockdown"),
    ("replogle_2022_rpe1", "eye", "retinal pigment epithelial cell", "hTERT RPE-1 cell", "female", "adult",
     "normal", "knockdown"),
    ("adamson_2016_upr_epistasis", "blood", "lymphoblast", "K562 cell", "female", "adult",
     "chronic myelogenous leukemia", "knockdown"),
    ("nadig_2025_hepg2", "liver", "hepatocyte", "Hep G2 cell", "male", "child", "hepatoblastoma", "knockdown"),
    ("dixit_2016", "blood", "lymphoblast", "K562 cell", "female", "adult", "chronic myelogenous leukemia",
     "knockout"),
    ("norman_2019", "blood", "lymphoblast", "K562 cell", "female", "adult", "chronic myelogenous leukemia",
     "activation"),
    ("orion_2025_hek293t", "kidney", "embryonic kidney cell", "HEK293T cell", "female", "embryonic stage",
     "normal", "knockout"),
    ("orion_2025_hct116", "colon", "colon epithelial cell", "HCT 116 cell", "male", "adult",
     "colorectal carcinoma", "knockout"),
    ("replogle_2022_k562_essential", "blood", "lymphoblast", "K562 cell", "female", "adult",
     "chronic myelogenous leukemia", "knockdown"),
    ("tian_2021_ipsc_neuron", "brain", "neuron", "iPSC-derived neuron", "male", "adult", "normal", "knockdown"),
    ("frangieh_2021", "skin", "melanocyte", "A375 cell", "female", "adult", "melanoma", "knockout"),
    ("gasperini_2019", "blood", "lymphoblast", "K562 cell", "female", "adult", "chronic myelogenous leukemia",
     "knockdown"),
]
CELL_LINES = [
    ("lung", "epithelial cell of lung", "A549 cell", "male", "adult", "lung adenocarcinoma"),
    ("cervix", "epithelial cell", "HeLa cell", "female", "adult", "cervical adenocarcinoma"),
    ("breast", "mammary epithelial cell", "MCF-7 cell", "female", "adult", "breast adenocarcinoma"),
    ("blood", "monocyte", "THP-1 cell", "male", "child", "acute monocytic leukemia"),
    ("blood", "T cell", "primary human T cell", "male", "adult", "normal"),
    ("bone marrow", "hematopoietic stem cell", "CD34-positive cell", "female", "adult", "normal"),
    ("skin", "fibroblast", "BJ fibroblast", "male", "newborn human stage", "normal"),
    ("brain", "astrocyte", "iPSC-derived astrocyte", "female", "adult", "normal"),
    ("prostate", "epithelial cell of prostate", "LNCaP cell", "male", "adult", "prostate carcinoma"),
    ("pancreas", "pancreatic ductal cell", "PANC-1 cell", "male", "adult", "pancreatic carcinoma"),
]
AUTHORS = ["smith", "garcia", "chen", "mueller", "okafor", "tanaka", "kowalski", "ibrahim", "rossi", "novak"]
PERTURBATION_TYPES = ["knockdown", "knockout", "activation", "base editing"]
KNOWN_GENES = (
    "TP53 MYC GAPDH SPI1 CHST11 ACTB MALAT1 XBP1 ATF4 ATF6 ERN1 EIF2AK3 HSPA5 DDIT3 GATA1 TAL1 KLF1 HBG1 HBG2 "
    "HBZ BCR ABL1 CD3E CD4 CD8A LCK ZAP70 LAT IL2 IL2RA JUN FOS EGR1 NFKB1 RELA STAT1 STAT3 IRF1 IRF4 TNF CD69 "
    "PTPRC B2M HLA-A RPL13A RPS6 RPL3 EEF1A1 TUBB NPM1 NCL HNRNPA1 SRSF1 POLR2A CDK1 CDK2 CCNB1 CCND1 CDKN1A "
    "MDM2 BRCA1 ATM ATR CHEK1 CHEK2 PCNA MCM2 TOP2A MKI67 SOX2 POU5F1 NANOG KRAS NRAS BRAF EGFR PTEN PIK3CA "
    "AKT1 MTOR RB1 E2F1 VIM CDH1 EPCAM ALB APOA1 HNF1A HNF4A FOXA2 AFP TTR SERPINA1 COL1A1 FN1 ACTA2 MT-ND1 "
    "MT-CO1 MT-ATP6 SLC2A1 LDHA PKM ENO1 HIF1A VEGFA SQSTM1 C1orf112 C9orf72 C19orf53 AC005256.1 AC006262.5 "
    "AC096559.1 AC108868.6 RP11-34P13.7 LINC00473 "
    # Symbols that differ from others only in case (mouse-style names, as mixed-species catalogues hold) or share
    # a long prefix: autocomplete (GET /v1/genes) must tell them apart and order them.
    "Myc Gapdh mt-Nd1 mt-Co1 Tp53 RP11-34P13.8 RP11-34P13.13 LINC00474 AC005256.10 AC005256.11 "
    # Genes renamed by HGNC (spelled the old way in datasets from before 2020: RENAMED), and guides no reference
    # places (a non-targeting control, a dual-guide construct): gene resolution must find the first under both
    # spellings and leave the others to themselves.
    "SEPTIN2 MARCHF1 non-targeting CBL+CNN1"
).split()
RENAMED = {"SEPTIN2": "SEPT2", "MARCHF1": "MARCH1"}  # new symbol -> the symbol before 2020
MEASURED_EVERYWHERE = ("SEPTIN2", "MARCHF1")  # every dataset measures them: both spellings occur in any catalogue
# A re-analysis writes Ensembl gene IDs with their version instead of symbols (every REANALYSIS-th dataset).
ENSEMBL = {"TP53": "ENSG00000141510.16", "SEPTIN2": "ENSG00000168385.15", "MYC": "ENSG00000136997.17",
           "GAPDH": "ENSG00000111640.15"}
REANALYSIS = 8
UNIVERSE_SIZE = 20000


@dataclass(frozen=True)
class Dataset:
    dataset_id: str
    labels: dict[str, str | None]
    perturbations: np.ndarray = field(repr=False)
    genes: np.ndarray = field(repr=False)
    rows: int


def gene_universe() -> np.ndarray:
    """Well-known symbols first, then plausible synthetic ones (protein-coding families, lncRNA, ORFs)."""
    rng = np.random.default_rng(0)
    symbols = dict.fromkeys(KNOWN_GENES)
    while len(symbols) < UNIVERSE_SIZE:
        kind, n = rng.integers(8), int(rng.integers(1, 999))
        letter = "ABCDEFGHIJKLMNOP"[n % 16]
        symbols.setdefault((
            f"ZNF{n}", f"SLC{n % 60 + 1}A{n % 13 + 1}", f"TMEM{n}", f"CCDC{n}",
            f"AC{rng.integers(1e6):06d}.{n % 9 + 1}", f"LINC{rng.integers(1e5):05d}",
            f"C{n % 22 + 1}orf{n % 200 + 1}", f"RP11-{n}{letter}{n % 23}.{n % 7 + 1}",
        )[kind])
    return np.array(list(symbols), dtype=object)


def metadata(index: int, rng: np.random.Generator) -> tuple[str, dict[str, str | None]]:
    if index < len(REAL_DATASETS):
        dataset_id, *labels = REAL_DATASETS[index]
        return dataset_id, dict(zip(LABEL_FIELDS, labels, strict=True))
    line = CELL_LINES[rng.integers(len(CELL_LINES))]
    labels = dict(zip(LABEL_FIELDS, (*line, PERTURBATION_TYPES[rng.integers(len(PERTURBATION_TYPES))]), strict=True))
    if rng.random() < 0.1:
        labels["developmental_stage"] = None  # incomplete curation happens; the API outputs null
    slug = line[2].split()[0].lower().replace("-", "")
    return f"{AUTHORS[rng.integers(len(AUTHORS))]}_{rng.integers(2016, 2027)}_{slug}_{index + 1:04d}", labels


def plan(rows: int, datasets: int, seed: int, sizes: str = "spread") -> list[Dataset]:
    if not 1 <= datasets <= MAX_DATASETS:
        raise ValueError(f"DATASETS must be between 1 and {MAX_DATASETS}")
    if rows < MIN_ROWS_PER_DATASET * datasets * 10:
        raise ValueError(f"ROWS must be at least {MIN_ROWS_PER_DATASET * 10} per dataset")
    if sizes not in SIZES:
        raise ValueError(f"SIZES must be one of {', '.join(SIZES)}")
    rng = np.random.default_rng([seed, 1])
    universe = gene_universe()
    known = len(KNOWN_GENES)
    weights = np.where(np.arange(len(universe)) < known, 50.0, 1.0)
    if sizes == "heavy":
        targets = [0, *heavy_sizes(rows, datasets, seed)[1:]]
    else:  # Largest dataset: 40 %; the others log-spaced over three orders of magnitude, in seeded order.
        relative = 10.0 ** -np.linspace(0, 3, datasets - 1) if datasets > 1 else np.array([])
        rng.shuffle(relative)
        targets = [0] + [max(MIN_ROWS_PER_DATASET, int(rows * 0.6 * w / relative.sum())) for w in relative]
    result = []
    for index, target in enumerate(targets):
        dataset_id, labels = metadata(index, rng)
        if index == 0:
            target = rows - sum(_grid(t)[0] * _grid(t)[1] for t in targets[1:])
        n_perturbations, n_genes = _grid(target)
        def pick(n: int) -> np.ndarray:
            return universe[np.sort(rng.choice(len(universe), n, replace=False, p=weights / weights.sum()))]
        perturbations, genes = pick(n_perturbations), _measured(pick(n_genes))
        result.append(Dataset(dataset_id, labels, _spelled(perturbations, dataset_id, index),
                              _spelled(genes, dataset_id, index), target if index == 0 else n_perturbations * n_genes))
    return result


def heavy_sizes(rows: int, datasets: int, seed: int) -> list[int]:
    """Target rows per dataset of a heavy-tailed catalogue (the first is the largest; the others in seeded order):
    one dataset in GENOME_WIDE_EVERY is genome-wide, these share GENOME_WIDE_SHARE of the rows by weights 1/sqrt(k);
    the rest share the other rows by log-normal weights (sigma 1: a median about 0.6 of their mean)."""
    rng = np.random.default_rng([seed, 3])
    wide = max(1, round(datasets / GENOME_WIDE_EVERY)) if datasets > 1 else 1
    share = GENOME_WIDE_SHARE if datasets > wide else 1.0
    big = 1 / np.sqrt(np.arange(1, wide + 1))
    small = rng.lognormal(0.0, 1.0, datasets - wide)
    sizes = [*(rows * share * big / big.sum()), *(rows * (1 - share) * small / small.sum())]
    order = [0, *(1 + rng.permutation(datasets - 1))]  # the largest stays first (replogle_2022_k562_gw)
    return [max(MIN_ROWS_PER_DATASET, int(sizes[i])) for i in order]


def _measured(genes: np.ndarray) -> np.ndarray:
    """The phenotype genes with MEASURED_EVERYWHERE among them (in place of the last ones, keeping the count)."""
    missing = [g for g in MEASURED_EVERYWHERE if g not in set(genes)]
    if not missing or len(genes) <= len(MEASURED_EVERYWHERE):
        return genes
    kept = [g for g in genes if g not in MEASURED_EVERYWHERE][:len(genes) - len(MEASURED_EVERYWHERE)]
    return np.array(sorted([*kept, *MEASURED_EVERYWHERE]), dtype=object)


def _spelled(symbols: np.ndarray, dataset_id: str, index: int) -> np.ndarray:
    """Symbols as this dataset spells them: renamed genes the old way before 2020, Ensembl IDs in a re-analysis."""
    year = int(next((part for part in dataset_id.split("_") if part.isdigit() and len(part) == 4), "2020"))
    names = {**(RENAMED if year < 2020 else {}), **(ENSEMBL if index % REANALYSIS == REANALYSIS // 2 else {})}
    return np.array([names.get(s, s) for s in symbols], dtype=object)


def _grid(target: int) -> tuple[int, int]:
    genes = min(MAX_GENES, max(2, round(1.5 * math.sqrt(target))))
    return math.ceil(target / genes), genes


HEADER = b"perturbed_target_symbol,gene,log2foldchange,padj,basemean\n"


def csv_chunks(dataset: Dataset, seed: int, index: int, chunk_rows: int = 400_000) -> Iterator[bytes]:
    """The lines of a results.csv (docs/contract.md, "Input files"), without its header: empty field = NULL, nan,
    inf and -inf as such."""
    rng = np.random.default_rng([seed, 2, index])
    genes, n_genes = dataset.genes, len(dataset.genes)
    gene_base = np.exp(rng.normal(2.0, 1.5, n_genes))  # per-gene mean expression, log-normal
    strength = np.minimum(0.6, np.exp(rng.normal(-4.0, 1.5, len(dataset.perturbations))))
    per_chunk = max(1, chunk_rows // n_genes)
    for start in range(0, len(dataset.perturbations), per_chunk):
        perturbations = dataset.perturbations[start:start + per_chunk]
        n = min(len(perturbations) * n_genes, dataset.rows - start * n_genes)
        target_of_row = np.repeat(perturbations, n_genes)[:n]
        gene_of_row = np.tile(genes, len(perturbations))[:n]
        significant = rng.random(n) < np.repeat(strength[start:start + per_chunk], n_genes)[:n]
        self_target = target_of_row == gene_of_row  # a knocked-down gene is its own strongest hit
        significant |= self_target
        padj = np.where(significant, 10.0 ** -(1.302 + np.minimum(rng.exponential(4.0, n), 38.7)),
                        0.05 + 0.95 * np.sqrt(rng.random(n)))
        effect = 0.25 + 0.4 * np.abs(rng.standard_t(3, n))
        sign = np.where(rng.random(n) < 0.55, -1.0, 1.0)
        log2fc = np.where(significant, sign * effect, rng.normal(0.0, 0.1, n))
        log2fc[self_target] = -np.abs(log2fc[self_target]) - 1.0
        basemean = np.repeat(gene_base[None, :], len(perturbations), 0).ravel()[:n] * np.exp(rng.normal(0, 0.05, n))
        padj_null = rng.random(n) < 0.01
        log2fc_null = rng.random(n) < 0.0002
        for values, special in ((log2fc, (np.nan, np.inf, -np.inf, 0.0)), (padj, (np.nan,))):
            for value in special:  # a couple of each per chunk, so every data set of some size exercises them
                values[rng.integers(n, size=min(2, n // 20))] = value
        if start == 0:  # a published dataset has at least one significant hit
            padj_null[0], padj[0] = False, np.fmin(padj[0], 1e-4)
            log2fc[0] = log2fc[0] if np.isfinite(log2fc[0]) and log2fc[0] else -1.0
        columns = [target_of_row, gene_of_row, _text(log2fc, log2fc_null), _text(padj, padj_null), _text(basemean)]
        lines = columns[0]
        for column in columns[1:]:
            lines = lines + "," + column
        yield ("\n".join(lines) + "\n").encode()


def _text(values: np.ndarray, null: np.ndarray | None = None) -> np.ndarray:
    text = values.astype(str).astype(object)  # shortest repr that round-trips; 'nan'/'inf' are read by PostgreSQL
    if null is not None:
        text[null] = ""
    return text


def documents(datasets: list[Dataset]) -> list[dict]:
    """Elasticsearch documents: each label a one-element list (empty when uncurated), plus fields the API ignores."""
    return [{"dataset_id": d.dataset_id,
             **{f"{name}_labels": [value] if value else [] for name, value in d.labels.items()},
             "title": f"Perturb-seq screen {d.dataset_id} ({len(d.perturbations)} perturbations)",
             "n_perturbations": len(d.perturbations), "n_phenotype_genes": len(d.genes)}
            for d in datasets]


def write(folder: Path, datasets: list[Dataset], seed: int,
          progress: Callable[[int, int], None] | None = None) -> None:
    """Every dataset as input files (docs/contract.md, "Input files"): <folder>/<dataset_id>/metadata.json and
    results.csv. `progress`(datasets, rows) is told after each dataset."""
    written = 0
    for index, (dataset, document) in enumerate(zip(datasets, documents(datasets), strict=True)):
        target = folder / dataset.dataset_id
        target.mkdir(parents=True, exist_ok=True)
        (target / "metadata.json").write_text(json.dumps(document, indent=1) + "\n")
        with (target / "results.csv").open("wb") as out:
            out.write(HEADER)
            for chunk in csv_chunks(dataset, seed, index):
                out.write(chunk)
        written += dataset.rows
        if progress:
            progress(index + 1, written)


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="Write the demo data as input files (make demo-files).")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--datasets", type=int, default=12)
    parser.add_argument("--sizes", choices=SIZES, default="spread")
    args = parser.parse_args()
    write(args.folder, plan(args.rows, args.datasets, args.seed, args.sizes), args.seed)
