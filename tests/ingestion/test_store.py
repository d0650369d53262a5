"""Per-dataset loads (docs/contract.md, "Loading data") on the real stores: replace and delete leave every derived
relation and the stored search answers and groups exactly as a bulk build of the same input would; unchanged input is
a no-op; a refusal changes nothing; values round-trip exactly."""
from __future__ import annotations

import math
import shutil
from collections import Counter
from pathlib import Path

import pytest
from catalogue_common.settings import settings
from ingestion import answers, relations, run

from tests.api import get
from tests.catalogue.endpoints.test_gene_rows import walk
from tests.catalogue.reference import CatalogueReference, Reference, Row, approx_equal
from tests.catalogue.test_search_contract import NON_EMPTY_FLOOR, call, expected, random_cases
from tests.devtools.data.test_schema import GENE_ROWS_INDEXES, PROJECT_INDEXES, SPEC_INDEXES, assert_indexes
from tests.support import fetch, search_engine

from .conftest import DATABASE, INDEX, fresh, ingest, target

REFERENCE = "catalogue_ingest_reference"
ES = search_engine()


def contents(database: str) -> dict[str, list[tuple]]:
    """Every derived relation, the stored search answers and groups and the table, sorted, without load times."""
    out = {}
    for name in ["perturb_seq", *(r.name for r in relations.ALL), *answers.NAMES]:
        columns = [r[0] for r in fetch(database, "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass "
                                                 "AND attnum > 0 AND NOT attisdropped ORDER BY attnum", name)]
        kept = [c for c in columns if c not in ("max_ingested_at", "ingested_at")]
        rows = fetch(database, f"SELECT {', '.join(kept)} FROM {name}")
        out[name] = sorted((tuple(_comparable(v) for v in r) for r in rows), key=repr)
    return out


def _comparable(value: object) -> object:
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else round(value, 9) if math.isfinite(value) else value
    return value


def loaded_reference() -> Reference:
    """The brute-force reference of what the test's catalogue now holds (its rows and its documents)."""
    return Reference([Row(*r) for r in fetch(DATABASE, "SELECT dataset_id, perturbed_target_symbol, gene, "
                                                       "log2foldchange, padj, basemean FROM perturb_seq")],
                     [h["_source"] for h in ES.search(index=INDEX, size=100)["hits"]["hits"]])


def assert_as_bulk_built(folders: list[Path]) -> None:
    fresh(REFERENCE, folders, index="test-ingest-reference-dataset-summary-v1")
    assert contents(DATABASE) == contents(REFERENCE)


def test_replacing_a_dataset_equals_a_bulk_build(catalogue_a: Path, demo_files: Path):
    shutil.rmtree(catalogue_a / "datlinger_2017")
    shutil.copytree(demo_files / "b" / "datlinger_2017", catalogue_a / "datlinger_2017")
    before = fetch(DATABASE, "SELECT count(*) FROM perturb_seq WHERE dataset_id = 'datlinger_2017'")[0][0]
    summary = ingest(run.load(target(), [catalogue_a / "datlinger_2017"], quiet=True))
    assert summary.outcomes == {"datlinger_2017": "loaded"}
    after = fetch(DATABASE, "SELECT count(*) FROM perturb_seq WHERE dataset_id = 'datlinger_2017'")[0][0]
    assert before != after
    assert_as_bulk_built(sorted(catalogue_a.iterdir()))


def test_adding_a_new_dataset_and_reloading_unchanged_ones(catalogue_a: Path, demo_files: Path):
    new = next(p for p in sorted((demo_files / "b").iterdir()) if not (catalogue_a / p.name).exists())
    shutil.copytree(new, catalogue_a / new.name)
    summary = ingest(run.load(target(), sorted(catalogue_a.iterdir()), quiet=True))
    assert summary.outcomes[new.name] == "loaded"
    assert {o for d, o in summary.outcomes.items() if d != new.name} == {"unchanged"}
    assert ES.get(index=INDEX, id=new.name)["_source"]["dataset_id"] == new.name
    assert_as_bulk_built(sorted(catalogue_a.iterdir()))
    table = fetch(DATABASE, "SELECT md5(string_agg(ctid::text || xmin::text, ',' ORDER BY ctid)) FROM perturb_seq")
    assert set(ingest(run.load(target(), sorted(catalogue_a.iterdir()), quiet=True)).outcomes.values()) == {
        "unchanged"}
    assert fetch(DATABASE, "SELECT md5(string_agg(ctid::text || xmin::text, ',' ORDER BY ctid)) FROM perturb_seq") \
        == table, "an unchanged load writes nothing"


def test_the_filter_free_answers_are_stored_uncompressed(catalogue_a: Path, demo_files: Path):
    """answers.UNCOMPRESSED: no stored filter-free answer is compressed, though most are over the 2 KB past which
    PostgreSQL compresses a value by default; a dataset's own load, which writes into the table, keeps them so."""
    def stored() -> list[tuple[str, str | None, int]]:
        return [tuple(r) for r in fetch(DATABASE, "SELECT dataset_id, pg_column_compression(groups), "
                                                  f"octet_length(groups) FROM {answers.NAME}")]
    assert sum(size > 2100 for _, _, size in stored()) >= 10
    assert {method for _, method, _ in stored()} == {None}
    shutil.rmtree(catalogue_a / "datlinger_2017")
    shutil.copytree(demo_files / "b" / "datlinger_2017", catalogue_a / "datlinger_2017")
    assert ingest(run.load(target(), [catalogue_a / "datlinger_2017"], quiet=True)).outcomes == {
        "datlinger_2017": "loaded"}
    reloaded = [(method, size) for dataset_id, method, size in stored() if dataset_id == "datlinger_2017"]
    assert any(size > 2100 for _, size in reloaded) and {method for method, _ in reloaded} == {None}


def test_the_whole_answer_is_in_dataset_order_however_the_stored_answers_lie(catalogue_a: Path, with_stores):
    """stored.whole: the whole answer of a search without filters is read in no order and sorted by the function. Here
    the stored answers are written again in reverse dataset order (as rows a later load appends may lie), so that
    PostgreSQL, asked for no order, gives them so; the answers must still be in dataset_id order, as brute force
    says."""
    fetch(DATABASE, f"CREATE TABLE reversed AS SELECT * FROM {answers.NAME}")
    fetch(DATABASE, f"DELETE FROM {answers.NAME}")
    fetch(DATABASE, f"INSERT INTO {answers.NAME} SELECT * FROM reversed ORDER BY dataset_id COLLATE \"C\" DESC")
    fetch(DATABASE, "DROP TABLE reversed")
    fetch(DATABASE, f"ANALYZE {answers.NAME}")
    lying = [r[0] for r in fetch(DATABASE, f"SELECT dataset_id FROM {answers.NAME} WHERE group_by = 'perturbation' "
                                           "AND direction = 'any'")]
    assert lying != sorted(lying), "the rows must not come in dataset order"
    with_stores(ps_db=DATABASE, es_index=INDEX)
    reference = loaded_reference()
    for params in ({}, {"group_by": "phenotype_gene_name"}, {"effect_direction": "decreased"}):
        got, want = call(**params), expected(reference, INDEX, params)
        assert [e["dataset"]["dataset_id"] for e in got] == sorted(lying) and approx_equal(got, want), params


def test_a_catalogue_from_before_the_stored_groups_gets_them_at_the_next_load(catalogue_a: Path):
    """A deployed catalogue made before perturb_seq_search_groups existed: the next load (here a delete) adds them,
    with every dataset's answers written anew, as a bulk build would hold them."""
    fetch(DATABASE, f"DROP TABLE {answers.GROUPS}")
    fetch(DATABASE, f"DELETE FROM {answers.NAME}")
    held = fetch(DATABASE, "SELECT count(*) FROM perturb_seq WHERE dataset_id = 'datlinger_2017'")[0][0]
    assert ingest(run.delete(target(), "datlinger_2017")) == ("deleted", held) and held > 0
    shutil.rmtree(catalogue_a / "datlinger_2017")
    assert fetch(DATABASE, f"SELECT count(*) FROM {answers.GROUPS}")[0][0] > 0
    assert_as_bulk_built(sorted(catalogue_a.iterdir()))


def test_delete_removes_the_dataset_from_both_stores(catalogue_a: Path):
    held = fetch(DATABASE, "SELECT count(*) FROM perturb_seq WHERE dataset_id = 'datlinger_2017'")[0][0]
    assert ingest(run.delete(target(), "datlinger_2017")) == ("deleted", held) and held > 0
    assert fetch(DATABASE, "SELECT count(*) FROM perturb_seq WHERE dataset_id = 'datlinger_2017'")[0][0] == 0
    assert not ES.exists(index=INDEX, id="datlinger_2017")
    shutil.rmtree(catalogue_a / "datlinger_2017")
    assert_as_bulk_built(sorted(catalogue_a.iterdir()))
    [(outcome, rows)] = fetch(DATABASE, "SELECT outcome, rows FROM catalogue_loads WHERE dataset_id = "
                                        "'datlinger_2017' ORDER BY id DESC LIMIT 1")
    assert outcome == "deleted" and rows > 0


def test_a_refused_dataset_changes_nothing_and_is_recorded(catalogue_a: Path):
    before = contents(DATABASE)
    results = catalogue_a / "datlinger_2017" / "results.csv"
    lines = results.read_text().splitlines()
    lines[5] = "=cmd|' /C calc'!A0," + lines[5].split(",", 1)[1]
    results.write_text("\n".join(lines) + "\n")
    summary = ingest(run.load(target(), [catalogue_a / "datlinger_2017"], quiet=True))
    assert summary.outcomes == {"datlinger_2017": "refused"}
    [refusal] = summary.refusals
    assert "results.csv, line 6, column perturbed_target_symbol: gene symbol starts with =" in str(refusal)
    assert contents(DATABASE) == before
    [(outcome, detail)] = fetch(DATABASE, "SELECT outcome, detail FROM catalogue_loads WHERE dataset_id = "
                                          "'datlinger_2017' ORDER BY id DESC LIMIT 1")
    assert outcome == "refused" and "line 6" in detail


# Text of an input file -> the double PostgreSQL must hold (None: NULL). Every special value of docs/contract.md "Input
# files" in each numeric column: NULL (empty, NA), NaN in three spellings, both infinities, both zeros, subnormals, the
# extremes, a value that a decimal round trip through fewer digits would change. padj also holds infinities (only a
# *finite* padj outside [0, 1] is refused); its finite values stay within [0, 1].
SPECIAL = [("", None), ("NA", None), ("NaN", math.nan), ("nan", math.nan), ("NAN", math.nan), ("0", 0.0),
           ("-0.0", -0.0), ("5e-324", 5e-324), ("1e-320", 1e-320), ("2.2250738585072014e-308", 2.2250738585072014e-308),
           ("0.30000000000000004", 0.30000000000000004), ("0.1", 0.1), ("1", 1.0), ("0.9999999999999999",
           0.9999999999999999), ("Inf", math.inf), ("-inf", -math.inf), ("INFINITY", math.inf)]
UNBOUNDED = [("1.7976931348623157e308", 1.7976931348623157e308), ("-1.7976931348623157e308", -1.7976931348623157e308),
             ("-2.5", -2.5), ("123456.789", 123456.789)]


def same_double(got: float | None, want: float | None) -> bool:
    """Bit for bit: NULL only for NULL, NaN only for NaN, the sign of zero kept, every other double exact."""
    if want is None or got is None:
        return got is None and want is None
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    return got.hex() == want.hex()


@pytest.mark.unit
def test_same_double_tells_every_kind_apart():
    kinds = [None, math.nan, 0.0, -0.0, math.inf, -math.inf, 5e-324, 0.1]
    for i, a in enumerate(kinds):
        for j, b in enumerate(kinds):
            assert same_double(a, b) is (i == j), (a, b)


@pytest.mark.parametrize("file", ["results.csv", "results.parquet"])
def test_null_na_nan_and_infinities_round_trip_exactly(catalogue_a: Path, tmp_path: Path, file: str, with_stores):
    """Every numeric column read back from PostgreSQL as the double the file gave, NULL and NaN kept apart; then
    served by the rows endpoint as docs/contract.md "Answers" says."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    folder = tmp_path / "special_values"
    folder.mkdir()
    (folder / "metadata.json").write_text('{"dataset_id": "special_values", "tissue_labels": ["blood"]}')
    free, padj = SPECIAL + UNBOUNDED, SPECIAL
    count = len(free)
    # Row i takes the i-th value of each column (padj's list is shorter: it wraps), so every value of every column
    # is written once at least, and no row is all one kind.
    cells = [(free[i], padj[(i * 5) % len(padj)], free[(i * 2 + 1) % count]) for i in range(count)]
    assert {c[1][0] for c in cells} == {t for t, _ in padj} and {c[2][0] for c in cells} == {t for t, _ in free}
    if file.endswith(".csv"):
        lines = [f"P{i},G{i},{lf[0]},{pa_[0]},{bm[0]}" for i, (lf, pa_, bm) in enumerate(cells)]
        (folder / file).write_text("perturbed_target_symbol,gene,log2foldchange,padj,basemean\n"
                                   + "\n".join(lines) + "\n")
    else:  # typed doubles: NaN and null are different values of the column, not spellings
        pq.write_table(pa.table({
            "perturbed_target_symbol": [f"P{i}" for i in range(count)], "gene": [f"G{i}" for i in range(count)],
            **{name: pa.array([c[k][1] for c in cells], pa.float64())
               for k, name in enumerate(("log2foldchange", "padj", "basemean"))}}), folder / file)
    assert ingest(run.load(target(), [folder], quiet=True)).outcomes == {"special_values": "loaded"}
    got = {r[0]: r[1:] for r in fetch(DATABASE, "SELECT perturbed_target_symbol, log2foldchange, padj, basemean "
                                               "FROM perturb_seq WHERE dataset_id = 'special_values'")}
    assert set(got) == {f"P{i}" for i in range(count)}
    for i, cell in enumerate(cells):
        for column, (text, want), value in zip(("log2foldchange", "padj", "basemean"), cell, got[f"P{i}"],
                                               strict=True):
            assert same_double(value, want), (file, column, text, value)
    # And as the rows endpoint serves them (the test catalogue has no such basemean): null, and an empty TSV field,
    # for NULL and non-finite values, every finite double exactly, a direction only for a number other than zero.
    with_stores(ps_db=DATABASE, es_index=INDEX)
    answer = get("/v1/datasets/special_values/rows", "limit=1000")
    tsv = get("/v1/datasets/special_values/rows", "limit=1000&format=tsv").text.splitlines()[1:]
    served = {r["perturbation"]["perturbation_gene_name"]: r["change"] for r in answer.json["rows"]}
    fields = {line.split("\t")[0]: line.split("\t")[2:6] for line in tsv}
    for i, cell in enumerate(cells):
        finite = [w if w is not None and math.isfinite(w) else None for _, w in cell]
        log2fc = cell[0][1]
        direction = None if log2fc is None or math.isnan(log2fc) or log2fc == 0 else (
            "increased" if log2fc > 0 else "decreased")
        change = served[f"P{i}"]
        assert change["direction"] == direction, (cell, change)
        for key, want in zip(("log2fc", "padj", "base_mean"), finite, strict=True):
            assert same_double(change[key], want), (file, key, cell, change)
        assert fields[f"P{i}"] == [direction or "", *("" if w is None else repr(w) for w in finite)], cell


@pytest.mark.parametrize("layout", ["tables", "production views"])
def test_search_answers_the_same_on_both_layouts(catalogue_a: Path, demo_files: Path, layout: str, with_stores):
    """docs/contract.md "Derived relations": the API relies on the relations, whether maintained tables or production's
    materialised views; a per-dataset load on production's layout refreshes the views whole. After a per-dataset load on
    either layout, /v1/search answers as the brute-force reference says."""
    production = layout == "production views"
    fresh(DATABASE, sorted(catalogue_a.iterdir()), production_views=production)
    shutil.rmtree(catalogue_a / "datlinger_2017")
    shutil.copytree(demo_files / "b" / "datlinger_2017", catalogue_a / "datlinger_2017")
    assert ingest(run.load(target(), [catalogue_a / "datlinger_2017"], quiet=True)).outcomes == {
        "datlinger_2017": "loaded"}
    kinds = {r[0] for r in fetch(DATABASE, "SELECT relkind::text FROM pg_class WHERE relname = "
                                           "'perturb_seq_summary_effect'")}
    assert kinds == ({"m"} if production else {"r"})
    # Production's four indexes and the gene rows' two; the project's layout adds its two.
    assert_indexes(DATABASE, {**SPEC_INDEXES, **GENE_ROWS_INDEXES, **({} if production else PROJECT_INDEXES)})
    assert_as_bulk_built(sorted(catalogue_a.iterdir()))
    with_stores(ps_db=DATABASE, es_index=INDEX)
    reference = loaded_reference()
    non_empty = 0
    for params in random_cases(reference, 40, seed=3):
        got, want = call(**params), expected(reference, INDEX, params)
        assert approx_equal(got, want), params
        non_empty += bool(want)
    assert non_empty >= NON_EMPTY_FLOOR * 40, f"only {non_empty} of 40 cases have a non-empty answer"
    # A gene's rows across datasets, in either role, on its own index in either layout.
    rows = CatalogueReference(reference.rows, list(reference.documents.values()))
    for role in ("perturbation", "phenotype"):
        datasets: dict[str, set[str]] = {}
        for r in rows.rows:
            datasets.setdefault(getattr(r, role), set()).add(r.dataset_id)
        gene = max(sorted(datasets), key=lambda g: len(datasets[g]))
        want = [rows.gene_row(r) for r in rows.gene_rows(gene, role)]
        assert len(datasets[gene]) > 1 and approx_equal(walk(gene, [("role", role)], limit=50), want), (layout, role)


def test_a_gene_spelled_two_ways_in_one_dataset_answers_both_groups_in_rank_order(catalogue_a: Path, with_stores):
    """SPEC 8.2: a term in a third case names both stored spellings; a search grouped by that role answers the
    dataset's two groups (stored groups: endpoints/search/stored.py) in rank order, as brute force says."""
    results = catalogue_a / "datlinger_2017" / "results.csv"
    lines = results.read_text().splitlines()
    significant = Counter(line.split(",")[0] for line in lines[1:] if _padj(line.split(",")[3]) <= 0.05)
    (more, _), (fewer, _) = significant.most_common(2)
    assert significant[more] > significant[fewer] and fewer.lower() != fewer
    # the perturbation with more significant rows becomes a lower-case spelling of the other
    lines[1:] = [f"{fewer.lower()},{line.split(',', 1)[1]}" if line.split(",")[0] == more else line
                 for line in lines[1:]]
    results.write_text("\n".join(lines) + "\n")
    assert ingest(run.load(target(), [catalogue_a / "datlinger_2017"], quiet=True)).outcomes == {
        "datlinger_2017": "loaded"}
    with_stores(ps_db=DATABASE, es_index=INDEX)
    reference = loaded_reference()
    term = fewer[0] + fewer[1:].lower() if fewer[1:].lower() != fewer[1:] else fewer.lower().capitalize()
    assert term not in (fewer, fewer.lower())
    params = {"perturbation_gene_name": term}
    got = call(**params)
    assert approx_equal(got, expected(reference, INDEX, params))
    [element] = [e for e in got if e["dataset"]["dataset_id"] == "datlinger_2017"]
    groups = [g["perturbation"]["perturbation_gene_name"] for g in element["by_perturbation"]]
    assert groups == [fewer.lower(), fewer], groups


def _padj(text: str) -> float:
    return float(text) if text not in ("", "NA") else math.inf


def test_the_writer_role_loads_and_deletes_but_cannot_change_the_schema(catalogue_a: Path, demo_files: Path,
                                                                           monkeypatch):
    """docs/contract.md "Loading data": the writer uses its own role (the API's stays read-only); it may change rows,
    not structure."""
    import asyncpg
    shutil.rmtree(catalogue_a / "datlinger_2017")
    shutil.copytree(demo_files / "b" / "datlinger_2017", catalogue_a / "datlinger_2017")
    monkeypatch.setenv("PS_USER", "catalogue_ingest")
    settings.cache_clear()
    writer = target()
    assert writer.ps_user == "catalogue_ingest"
    assert ingest(run.load(writer, [catalogue_a / "datlinger_2017"], quiet=True)).outcomes == {
        "datlinger_2017": "loaded"}
    assert ingest(run.delete(writer, "adamson_2016_pilot"))[0] == "deleted"

    async def attempt(statement: str) -> None:
        conn = await run.connect(writer)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()
    for statement in ("DROP TABLE perturb_seq", "CREATE TABLE intruder (id int)", "TRUNCATE perturb_seq",
                      "ALTER TABLE perturb_seq ADD COLUMN x int"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            ingest(attempt(statement))
    monkeypatch.undo()  # the reference build is made by the superuser
    settings.cache_clear()
    shutil.rmtree(catalogue_a / "adamson_2016_pilot")
    assert_as_bulk_built(sorted(catalogue_a.iterdir()))


def test_a_whole_catalogue_load_forgets_the_datasets_it_does_not_hold(catalogue_a: Path, tmp_path: Path):
    """Loaded, then absent from a whole-catalogue load: loading its same files again must load, not skip."""
    kept = sorted(p for p in catalogue_a.iterdir() if p.name != "datlinger_2017")
    fresh(DATABASE, kept)
    [(outcome, detail)] = fetch(DATABASE, "SELECT outcome, detail FROM catalogue_loads WHERE dataset_id = "
                                          "'datlinger_2017' ORDER BY id DESC LIMIT 1")
    assert (outcome, detail) == ("deleted", "not in a whole-catalogue load")
    assert ingest(run.load(target(), [catalogue_a / "datlinger_2017"], quiet=True)).outcomes == {
        "datlinger_2017": "loaded"}
