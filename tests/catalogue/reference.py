"""An independent brute-force answer to the search (docs/contract.md), written from the contract in plain Python
over the whole table.

It shares no code with the layer: it reads every row, computes the summary counts itself, resolves gene terms
with its own reading of the gene reference (gene_reference.py), filters, groups, ranks and sorts in Python, and
builds the answer's shape by hand.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tests.support import search_engine

from .gene_reference import Book

LABELS = ("tissue", "cell_type", "cell_line", "sex", "developmental_stage", "disease", "library_perturbation_type")


class Ambiguous(Exception):
    """A gene term names several genes."""


@dataclass(frozen=True)
class Row:
    dataset_id: str
    perturbation: str
    phenotype: str
    log2fc: float | None
    padj: float | None
    basemean: float | None


def is_num(x: float | None) -> bool:
    return x is not None and not math.isnan(x)


def significant(row: Row) -> bool:
    return is_num(row.padj) and row.padj <= 0.05


def direction(log2fc: float | None) -> str | None:
    if not is_num(log2fc) or log2fc == 0:
        return None
    return "increased" if log2fc > 0 else "decreased"


def passes(row: Row, perturbation: set[str] | None = None, phenotype: set[str] | None = None,
           effect: str | None = None, max_padj: float | None = None, min_abs_log2fc: float | None = None) -> bool:
    """A row qualifies: its genes among the spellings given, its direction; padj <= max_padj and |log2fc| >=
    min_abs_log2fc, where NULL and NaN never pass a threshold (and infinities pass the fold-change one)."""
    return ((perturbation is None or row.perturbation in perturbation)
            and (phenotype is None or row.phenotype in phenotype)
            and (effect is None or direction(row.log2fc) == effect)
            and (max_padj is None or (is_num(row.padj) and row.padj <= max_padj))
            and (min_abs_log2fc is None or (is_num(row.log2fc) and abs(row.log2fc) >= min_abs_log2fc)))


def padj_key(padj: float | None) -> tuple:
    """PostgreSQL's ascending order of double precision: numbers, then NaN, then NULL."""
    return (2, 0.0) if padj is None else (1, 0.0) if math.isnan(padj) else (0, padj)


def byte_key(text: str) -> bytes:
    return text.encode()


def finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def tokens(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def mean(values: list[float]) -> float | None:
    """avg() as PostgreSQL computes it over a summary's rows: NULLs left out (None when all are), NaN and infinities
    propagating (the answer then shows null)."""
    return sum(values) / len(values) if values else None


class Reference:
    def __init__(self, rows: list[Row], documents: list[dict], book: Book | None = None) -> None:
        self.rows, self.documents = rows, {d["dataset_id"]: d for d in documents}
        self.book = book or Book([], {s for r in rows for s in (r.perturbation, r.phenotype)})
        self.summary: dict[str, dict[tuple[str, str], dict]] = {"perturbation": {}, "phenotype": {}}
        acc: dict[str, dict[tuple[str, str], list[Row]]] = {"perturbation": defaultdict(list),
                                                             "phenotype": defaultdict(list)}
        for row in rows:
            if significant(row):
                acc["perturbation"][row.dataset_id, row.perturbation].append(row)
                acc["phenotype"][row.dataset_id, row.phenotype].append(row)
        for role, groups in acc.items():
            for key, members in groups.items():
                self.summary[role][key] = {
                    "n_total": len(members),
                    "n_up": sum(direction(r.log2fc) == "increased" for r in members),
                    "n_down": sum(direction(r.log2fc) == "decreased" for r in members),
                    "base_mean": mean([r.basemean for r in members if r.basemean is not None])}
        self.by_dataset: dict[str, list[Row]] = defaultdict(list)
        for row in rows:
            self.by_dataset[row.dataset_id].append(row)

    def matching_datasets(self, text: str | None) -> set[str]:
        if text is None:
            return set(self.documents)
        words = tokens(text)
        return {i for i, d in self.documents.items()
                if words and words <= tokens(" ".join([i, *(v for n in LABELS for v in d.get(f"{n}_labels", []))]))}

    def gene(self, role: str, dataset_id: str, name: str) -> dict[str, Any]:
        s = self.summary[role].get((dataset_id, name), {"n_total": 0, "n_up": 0, "n_down": 0, "base_mean": None})
        ensembl = self.book.ensembl(name)
        if role == "perturbation":
            return {"perturbation_gene_name": name, "ensembl_gene_id": ensembl, "n_total": s["n_total"],
                    "n_up": s["n_up"], "n_down": s["n_down"]}
        return {"phenotype_gene_name": name, "ensembl_gene_id": ensembl, "base_mean": finite(s["base_mean"]),
                "n_total": s["n_total"], "n_up": s["n_up"], "n_down": s["n_down"]}

    def spellings(self, term: str | None) -> set[str] | None:
        """The stored symbols a gene term matches (None: no term); Ambiguous when it names several genes."""
        if term is None:
            return None
        resolved = self.book.resolve(term)
        if resolved.ambiguous:
            raise Ambiguous(term)
        return resolved.spellings

    def search(self, dataset_order: list[str], perturbation: str | None = None, phenotype: str | None = None,
               effect: str | None = None, group_by: str = "perturbation", max_padj: float | None = None,
               min_abs_log2fc: float | None = None) -> list[dict]:
        """`dataset_order`: the candidate datasets in SPEC order (relevance or id)."""
        other = "phenotype" if group_by == "perturbation" else "perturbation"
        perturbations, phenotypes = self.spellings(perturbation), self.spellings(phenotype)
        out = []
        for dataset_id in dataset_order:
            qualifying = [r for r in self.by_dataset[dataset_id]
                          if passes(r, perturbations, phenotypes, effect, max_padj, min_abs_log2fc)]
            groups: dict[str, list[Row]] = defaultdict(list)
            for r in qualifying:
                groups[getattr(r, group_by)].append(r)
            chosen = sorted((g for g in groups if (dataset_id, g) in self.summary[group_by]),
                            key=lambda g: (-self.summary[group_by][dataset_id, g]["n_total"], byte_key(g)))[:3]
            if not chosen:
                continue
            element_groups = []
            for g in chosen:
                top = sorted(groups[g], key=lambda r: (padj_key(r.padj), byte_key(getattr(r, other))))[:10]
                entries = []
                for r in top:
                    change = {"direction": direction(r.log2fc), "log2fc": finite(r.log2fc), "padj": finite(r.padj)}
                    partner = self.gene(other, dataset_id, getattr(r, other))
                    entries.append({"change": change, "phenotype": partner} if group_by == "perturbation"
                                   else {"perturbation": partner, "change": change})
                key = "change_phenotype" if group_by == "perturbation" else "perturbation_change"
                element_groups.append({group_by: self.gene(group_by, dataset_id, g), key: entries})
            doc = self.documents[dataset_id]
            labels = {n: (doc.get(f"{n}_labels") or [None])[0] for n in LABELS}
            out.append({"dataset": {"dataset_id": dataset_id, **labels}, f"by_{group_by}": element_groups})
        return out


def approx_equal(a: Any, b: Any, rel: float = 1e-9, aggregated: bool = False) -> bool:
    """Exact, types included, except a summary's base_mean (an average computed by aggregation, whose last bits
    depend on the order of summation), compared to a relative tolerance. A row's own numbers (log2fc, padj, the
    change's base_mean) are stored doubles and must come back exactly."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=rel) if aggregated else a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(approx_equal(a[k], b[k], rel, k == "base_mean" and "n_total" in a)
                                          for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(approx_equal(x, y, rel) for x, y in zip(a, b, strict=True))
    return a == b and type(a) is type(b)


# --- the catalogue endpoints (docs/contract.md, "Catalogue routes"), from the same rows and documents -------------

def labels_of(document: dict) -> dict[str, str | None]:
    return {n: (document.get(f"{n}_labels") or [None])[0] for n in LABELS}


class CatalogueReference(Reference):
    """Brute-force answers to docs/contract.md's "Dataset browsing" to "Catalogue summary": statistics, facets, row
    order, gene lookup, totals."""

    def statistics(self, dataset_id: str) -> dict[str, Any]:
        rows = self.by_dataset.get(dataset_id, [])
        return {"n_rows": len(rows), "n_significant_rows": sum(significant(r) for r in rows),
                "n_perturbations": len({r.perturbation for r in rows}),
                "n_phenotypes": len({r.phenotype for r in rows})}

    def datasets(self, text: str | None, filters: dict[str, list[str]], order: list[str]) -> dict[str, Any]:
        """`order`: the text's matches in SPEC order (relevance or id). Returns total, ids in order, facets."""
        def passes(dataset_id: str, leave_out: str | None = None) -> bool:
            labels = labels_of(self.documents[dataset_id])
            return all(not values or labels[f] in values for f, values in filters.items() if f != leave_out)
        matching = self.matching_datasets(text)
        ids = [i for i in order if i in matching and passes(i)]
        facets = {}
        for facet in LABELS:
            counts: dict[str, int] = defaultdict(int)
            for i in matching:
                value = labels_of(self.documents[i])[facet]
                if value is not None and passes(i, leave_out=facet):
                    counts[value] += 1
            facets[facet] = [{"value": v, "count": c}
                             for v, c in sorted(counts.items(), key=lambda vc: (-vc[1], byte_key(vc[0])))][:50]
        return {"total": len(ids), "ids": ids, "facets": facets}

    def top(self, role: str, dataset_id: str) -> list[dict[str, Any]]:
        names = [name for (d, name) in self.summary[role] if d == dataset_id]
        names.sort(key=lambda n: (-self.summary[role][dataset_id, n]["n_total"], byte_key(n)))
        return [self.gene(role, dataset_id, n) for n in names[:10]]

    def rows_of(self, dataset_id: str, perturbation: str | None = None, phenotype: str | None = None,
                effect: str | None = None, max_padj: float | None = None,
                min_abs_log2fc: float | None = None) -> list[Row]:
        """Qualifying rows in the order of docs/contract.md "Dataset rows": padj (numbers, NaN, NULL), then
        perturbation, then phenotype."""
        perturbations, phenotypes = self.spellings(perturbation), self.spellings(phenotype)
        rows = [r for r in self.by_dataset.get(dataset_id, [])
                if passes(r, perturbations, phenotypes, effect, max_padj, min_abs_log2fc)]
        return sorted(rows, key=lambda r: (padj_key(r.padj), byte_key(r.perturbation), byte_key(r.phenotype)))

    def row(self, r: Row) -> dict[str, Any]:
        return {"perturbation": self.gene("perturbation", r.dataset_id, r.perturbation),
                "change": {"direction": direction(r.log2fc), "log2fc": finite(r.log2fc), "padj": finite(r.padj),
                           "base_mean": finite(r.basemean)},
                "phenotype": self.gene("phenotype", r.dataset_id, r.phenotype)}

    def gene_rows(self, term: str, role: str = "perturbation", other: str | None = None, effect: str | None = None,
                  max_padj: float | None = None, min_abs_log2fc: float | None = None) -> list[Row] | None:
        """The qualifying rows of a gene across the catalogue in the order of docs/contract.md "Rows of a gene": padj
        (numbers, NaN, NULL), then dataset_id, then the other gene, then the gene's own spelling (all in byte order),
        rows of datasets with a document only. `other`: the other gene's term. None: the term names nothing (404);
        Ambiguous: it names several genes, or the other term does (400)."""
        resolved = self.book.resolve(term)
        if resolved.ambiguous or len(resolved.genes) > 1:
            raise Ambiguous(term)
        if not resolved.known:
            return None
        partner = "phenotype" if role == "perturbation" else "perturbation"
        genes = {role: resolved.spellings, partner: self.spellings(other)}
        rows = [r for r in self.rows if r.dataset_id in self.documents
                and passes(r, genes["perturbation"], genes["phenotype"], effect, max_padj, min_abs_log2fc)]
        return sorted(rows, key=lambda r: (padj_key(r.padj), byte_key(r.dataset_id), byte_key(getattr(r, partner)),
                                           byte_key(getattr(r, role))))

    def gene_row(self, r: Row) -> dict[str, Any]:
        """A row of GET /v1/genes/{gene}/rows: the dataset's row with its dataset_id."""
        return {"dataset_id": r.dataset_id, **self.row(r)}

    def genes(self, prefix: str, role: str | None, limit: int) -> list[dict[str, Any]]:
        occurs: dict[tuple[str, str], set[str]] = defaultdict(set)
        significant_in: dict[tuple[str, str], set[str]] = defaultdict(set)
        for r in self.rows:
            for rl, name in (("perturbation", r.perturbation), ("phenotype", r.phenotype)):
                occurs[name, rl].add(r.dataset_id)
                if significant(r):
                    significant_in[name, rl].add(r.dataset_id)
        def approved(name: str) -> str | None:
            gene = self.book.placed.get(name)
            return None if gene is None else self.book.genes[gene].approved

        def starts(name: str | None) -> bool:
            return name is not None and name.lower().startswith(prefix.lower())
        names = {name for name, _ in occurs if (starts(name) or starts(approved(name)))
                 and (role is None or (name, role) in occurs)}

        def rank(name: str) -> tuple:
            if role is None:
                n = len(significant_in[name, "perturbation"] | significant_in[name, "phenotype"])
            else:
                n = len(significant_in[name, role])
            exact = name.lower() == prefix.lower() or (approved(name) or "").lower() == prefix.lower()
            return (not exact, -n, byte_key(name))

        def figures(name: str, rl: str) -> dict[str, int] | None:
            if (name, rl) not in occurs:
                return None
            return {"n_datasets": len(occurs[name, rl]), "n_significant_datasets": len(significant_in[name, rl])}
        return [{"gene_name": n, "ensembl_gene_id": self.book.ensembl(n), "approved_symbol": approved(n),
                 "perturbation": figures(n, "perturbation"), "phenotype": figures(n, "phenotype")}
                for n in sorted(names, key=rank)[:limit]]


RELEVANCE_FIELDS = ["dataset_id", "tissue_labels", "cell_type_labels", "cell_line_labels", "sex_labels",
                    "developmental_stage_labels", "disease_labels", "library_perturbation_type_labels"]


def relevance_scores(index: str, text: str) -> dict[str, float]:
    """Elasticsearch's score of each dataset the text matches, for the query the project chose (docs/contract.md "How a
    search is answered" leaves the relevance function to the engine): the words over the eight fields, `cross_fields`,
    `operator: and`. Written out here, not imported from the layer, so a change of the layer's query shows as a
    different set or order."""
    hits = search_engine().search(index=index, size=10_000, source=["dataset_id"], query={"multi_match": {
        "query": text, "fields": RELEVANCE_FIELDS, "type": "cross_fields", "operator": "and"}})["hits"]["hits"]
    return {h["_source"]["dataset_id"]: h["_score"] for h in hits}


def relevance_order(index: str, text: str, matching: set[str] | None = None) -> list[str]:
    """The datasets matching `text` in SPEC order: relevance descending, ties by dataset_id in byte order.

    What this checks independently of the API, and what it does not:
    * Which datasets match: `matching`, when given, is Reference.matching_datasets(text), computed without
      Elasticsearch (the text's words, ANDed, among the words of the eight fields); the scored hits must be exactly
      those, so a dataset the API adds or drops fails whatever its score.
    * The order given the scores: sorted here in Python, score descending then dataset_id as bytes. The API sorts in
      Elasticsearch (`_score`, then `dataset_id.keyword`) and pages with search_after; this checks its direction, its
      tie rule (the test catalogue has many equal scores: datasets with the same labels) and its paging.
    * Not the scores themselves: they are Elasticsearch's, for the query written in relevance_scores. A layer that
      sent another query with the same matches (say `most_fields`) fails only where its scores order the tested texts
      differently. Recomputing the scores here would mean reproducing Lucene's BM25 under cross_fields (blended term
      statistics: the largest document frequency of a term over the fields, adjusted total term frequencies), in
      single precision, with its lossy one-byte length norms, exactly enough to order near-equal scores as the engine
      does: an approximation would disagree on near-ties and make the tests flaky, an exact copy would be a second
      Lucene to maintain. docs/contract.md "How a search is answered" asks for "search relevance", not for a formula, so
      the engine's score is taken as the definition, and what is tested is everything the API does with it.
    * In the test catalogue most texts give every dataset they match one score, so that their relevance order is the
      id order and an API ignoring the scores would pass them: test_relevance_is_not_the_id_order requires the texts
      the tests draw to include several that reorder, and checks both endpoints on each of them.
    """
    scores = relevance_scores(index, text)
    if matching is not None:
        assert set(scores) == matching, f"Elasticsearch's matches for {text!r} are not the text's words, ANDed"
    return sorted(scores, key=lambda i: (-scores[i], i.encode()))


def gene_across(ref: CatalogueReference, term: str) -> dict[str, Any] | None:
    """The answer of GET /v1/genes/{gene} by brute force (None: 404; Ambiguous: 400)."""
    resolved = ref.book.resolve(term)
    if resolved.ambiguous or len(resolved.genes) > 1:
        raise Ambiguous(term)
    if not resolved.known:
        return None
    gene = ref.book.genes[next(iter(resolved.genes))] if resolved.genes else None
    out: dict[str, list[dict[str, Any]]] = {"perturbation": [], "phenotype": []}
    for role in out:
        present = {(r.dataset_id, getattr(r, role)) for r in ref.rows if getattr(r, role) in resolved.spellings}
        for dataset_id, spelling in present:
            if dataset_id not in ref.documents:
                continue
            counts = {k: v for k, v in ref.gene(role, dataset_id, spelling).items() if k != "ensembl_gene_id"}
            out[role].append({"dataset": {"dataset_id": dataset_id, **labels_of(ref.documents[dataset_id])},
                              **counts})
        out[role].sort(key=lambda e: (-e["n_total"], byte_key(e["dataset"]["dataset_id"]),
                                      byte_key(e[f"{role}_gene_name"])))
    return {"gene": {"ensembl_gene_id": gene.ensembl if gene else None,
                     "approved_symbol": gene.approved if gene else None,
                     "previous_symbols": list(gene.previous) if gene else [],
                     "aliases": list(gene.aliases) if gene else [],
                     "spellings": sorted(resolved.spellings, key=byte_key)},
            "as_perturbation": out["perturbation"], "as_phenotype": out["phenotype"]}
