"""The input rules (docs/contract.md, "Input files" and "Refusals"): every refusal with a small bad file, each reported
with file, line, column and reason."""
from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingestion.dataset import prepare
from ingestion.problems import Refused

pytestmark = pytest.mark.unit

GOOD = "perturbed_target_symbol\tgene\tlog2foldchange\tpadj\tbasemean\nSPI1\tCHST11\t0.23\t0.5\t27.08\n" \
       "SPI1\tTP53\t-1.5\t0.001\t3.2\n"


def folder(tmp_path: Path, results: str | bytes | None = GOOD, name: str = "results.tsv", dataset_id: str = "ds_1",
           metadata: dict | str | None = None) -> Path:
    target = tmp_path / "ds_1"
    target.mkdir(exist_ok=True)
    document = {"dataset_id": dataset_id, "tissue_labels": ["blood"]} if metadata is None else metadata
    (target / "metadata.json").write_text(document if isinstance(document, str) else json.dumps(document))
    if results is not None:
        data = results.encode() if isinstance(results, str) else results
        (target / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return target


def refusal(path: Path) -> list[str]:
    with pytest.raises(Refused) as caught:
        prepare(path)
    assert caught.value.dataset_id == "ds_1"
    return [str(p) for p in caught.value.problems.found]


def test_a_good_file_reads_exactly(tmp_path):
    rows = prepare(folder(tmp_path)).rows
    assert rows.column_names == ["perturbed_target_symbol", "gene", "log2foldchange", "padj", "basemean"]
    assert rows.to_pylist()[1] == {"perturbed_target_symbol": "SPI1", "gene": "TP53", "log2foldchange": -1.5,
                                   "padj": 0.001, "basemean": 3.2}


def test_headers_any_case_any_order_synonyms_and_extra_columns(tmp_path):
    text = "Extra,BASE_MEAN,padj,Phenotype_Gene_Name,log2FC,Perturbation_Gene_Name\nx,1.5,0.2,TP53,-2,SPI1\n"
    rows = prepare(folder(tmp_path, text, "results.csv")).rows
    assert rows.to_pylist() == [{"perturbed_target_symbol": "SPI1", "gene": "TP53", "log2foldchange": -2.0,
                                 "padj": 0.2, "basemean": 1.5}]


@pytest.mark.parametrize("name", ["results.tsv.gz", "results.csv.gz", "results.parquet"])
def test_gzip_and_parquet(tmp_path, name: str):
    if name.endswith(".parquet"):
        path = folder(tmp_path, None)
        pq.write_table(pa.table({"perturbed_target_symbol": ["SPI1"], "gene": ["TP53"], "log2foldchange": [1.0],
                                 "padj": [None], "basemean": [float("nan")]}), path / name)
    else:
        path = folder(tmp_path, GOOD.replace("\t", ",") if ".csv" in name else GOOD, name)
    rows = prepare(path).rows.to_pylist()
    assert rows[0]["perturbed_target_symbol"] == "SPI1"
    if name.endswith(".parquet"):
        assert rows[0]["padj"] is None and math.isnan(rows[0]["basemean"])


def test_null_na_nan_and_infinities(tmp_path):
    text = "perturbed_target_symbol,gene,log2foldchange,padj,basemean\n" \
           "A,B,,NA,nan\nA,C,NaN,nan,Inf\nA,D,-inf,NAN,INFINITY\nA,E,+1.5e-3,0,-Infinity\nA,F,0,1,.5\n"
    rows = prepare(folder(tmp_path, text, "results.csv")).rows.to_pylist()
    values = [(r["log2foldchange"], r["padj"], r["basemean"]) for r in rows]
    assert values[0][0] is None and values[0][1] is None and math.isnan(values[0][2])
    assert math.isnan(values[1][0]) and math.isnan(values[1][1]) and values[1][2] == math.inf
    assert values[2][0] == -math.inf and math.isnan(values[2][1]) and values[2][2] == math.inf
    assert values[3] == (0.0015, 0.0, -math.inf) and values[4] == (0.0, 1.0, 0.5)


@pytest.mark.parametrize(("line", "expected"), [
    ("SPI1\tMYC\t1,5\t0.1\t2", "line 4, column log2foldchange: malformed number: '1,5'"),
    ("SPI1\tMYC\t1.5\t0.1x\t2", "line 4, column padj: malformed number: '0.1x'"),
    ("SPI1\tMYC\t1_000\t0.1\t2", "line 4, column log2foldchange: malformed number: '1_000'"),
    ("SPI1\tMYC\t 1\t0.1\t2", "line 4, column log2foldchange: malformed number: ' 1'"),
    ("SPI1\tMYC\tN/A\t0.1\t2", "line 4, column log2foldchange: malformed number: 'N/A'"),
    ("\tMYC\t1\t0.1\t2", "line 4, column perturbed_target_symbol: empty gene symbol"),
    ("SPI1\tMY\x07C\t1\t0.1\t2", "line 4, column gene: gene symbol contains a control character"),
    ("SPI1\t MYC\t1\t0.1\t2", "line 4, column gene: gene symbol has surrounding spaces"),
    ("SPI1 \tMYC\t1\t0.1\t2", "line 4, column perturbed_target_symbol: gene symbol has surrounding spaces"),
    ("=HYPERLINK(1)\tMYC\t1\t0.1\t2", "line 4, column perturbed_target_symbol: gene symbol starts with =, +, - or @"),
    ("SPI1\t+MYC\t1\t0.1\t2", "line 4, column gene: gene symbol starts with =, +, - or @"),
    ("SPI1\t-MYC\t1\t0.1\t2", "line 4, column gene: gene symbol starts with =, +, - or @"),
    ("@SPI1\tMYC\t1\t0.1\t2", "line 4, column perturbed_target_symbol: gene symbol starts with =, +, - or @"),
    ("SPI1\tMYC\t1\t1.5\t2", "line 4, column padj: a finite padj outside [0, 1]: 1.5"),
    ("SPI1\tMYC\t1\t-0.01\t2", "line 4, column padj: a finite padj outside [0, 1]: -0.01"),
    ("SPI1\tTP53\t1\t0.1\t2", "line 3, column perturbed_target_symbol, gene: duplicate (perturbation, gene) pair"),
])
def test_each_refusal_names_file_line_column_and_reason(tmp_path, line: str, expected: str):
    problems = refusal(folder(tmp_path, GOOD + line + "\n"))
    assert any(p.startswith(f"results.tsv, {expected}") for p in problems), problems


def test_nan_padj_is_kept_and_infinite_padj_is_not_a_range_error(tmp_path):
    rows = prepare(folder(tmp_path, GOOD + "SPI1\tMYC\t1\tNaN\t2\n")).rows.to_pylist()
    assert math.isnan(rows[-1]["padj"])


def test_only_the_first_twenty_problems_are_named_but_all_are_counted(tmp_path):
    bad = "".join(f"G{i}\tX{i}\tnot-a-number\t0.1\t2\n" for i in range(50))
    with pytest.raises(Refused) as caught:
        prepare(folder(tmp_path, GOOD + bad))
    problems = caught.value.problems
    assert problems.total == 50 and len(problems.found) == 20
    assert [p.line for p in problems.found] == list(range(4, 24))
    assert problems.report().endswith("... and 30 more problems")


@pytest.mark.parametrize(("header", "column"), [
    ("perturbed_target_symbol\tgene\tlog2foldchange\tbasemean", "padj"),
    ("perturbation_gene_name\tperturbed_target_symbol\tgene\tlog2fc\tpadj\tbasemean", "perturbed_target_symbol"),
])
def test_missing_or_doubled_columns(tmp_path, header: str, column: str):
    problems = refusal(folder(tmp_path, header + "\n"))
    assert any(f"line 1, column {column}:" in p for p in problems), problems


@pytest.mark.parametrize(("metadata", "expected"), [
    ({"dataset_id": "ds_1", "tissue_labels": ["blood", "liver"]}, "tissue_labels: holds 2 entries"),
    ({"tissue_labels": ["blood"]}, "column dataset_id: missing"),
    ({"dataset_id": "other"}, "'other' differs from the folder's name 'ds_1'"),
    ("{not json", "is not valid JSON"),
    ({"dataset_id": "ds_1", "sex_labels": "male"}, "sex_labels: must be a list of text"),
])
def test_metadata_rules(tmp_path, metadata, expected: str):
    problems = refusal(folder(tmp_path, metadata=metadata))
    assert any(p.startswith("metadata.json") and expected in p for p in problems), problems


def test_no_results_file_or_two(tmp_path):
    assert "found none" in refusal(folder(tmp_path, None))[0]
    path = folder(tmp_path)
    (path / "results.csv").write_text(GOOD.replace("\t", ","))
    assert "found results.tsv, results.csv" in refusal(path)[0]


def test_unreadable_files(tmp_path):
    problems = refusal(folder(tmp_path, b"\x1f\x8b\x08garbage", "results.csv.gz"))
    assert problems[0].startswith("results.csv.gz: cannot be read")
    (tmp_path / "other").mkdir()
    problems = refusal(folder(tmp_path / "other", b"perturbed_target_symbol\n\xff\xfe\n", "results.csv"))
    assert problems == ["results.csv: cannot be read: In CSV column #0: CSV conversion error to string: invalid UTF8 "
                        "data"]


# --- symbols the API could not be asked for are refused; symbols a person should look at are warned about ----------

@pytest.mark.parametrize(("symbol", "reason"), [
    ("X" * 250, "longer than 200 characters"), ("Y" * 3000, "longer than 200 characters"),
    ("gene\u00a0x", "whitespace or a format character"), ("zero\u200bwidth", "whitespace or a format character"),
    ("bom\ufeff", "whitespace or a format character"), ("two words", "whitespace or a format character"),
])
def test_a_symbol_no_request_could_name_refuses_the_dataset(tmp_path, symbol: str, reason: str):
    problems = refusal(folder(tmp_path, GOOD + f"{symbol}\tMYC\t1\t0.1\t2\n"))
    assert len(problems) == 1 and problems[0].startswith("results.tsv, line 4, column perturbed_target_symbol: gene "
                                                         "symbol") and reason in problems[0], problems


def test_a_symbol_of_exactly_200_characters_is_loaded(tmp_path):
    rows = prepare(folder(tmp_path, GOOD + f"{'Z' * 200}\tMYC\t1\t0.1\t2\n")).rows.to_pylist()
    assert rows[-1]["perturbed_target_symbol"] == "Z" * 200


def test_spreadsheet_dates_and_missing_value_tokens_are_loaded_with_warnings(tmp_path):
    text = GOOD.replace("\t", ",") + "".join(f"SPI1,{g},1,0.1,2\n" for g in ("1-Mar", "2-Sep", "1-DEC", "nan", "NA",
                                                                            "NULL", "None", "MARCH1"))
    dataset = prepare(folder(tmp_path, text, "results.csv"))
    assert dataset.rows.num_rows == 10, "nothing refused"
    assert [row["gene"] for row in dataset.rows.to_pylist()[2:]] == ["1-Mar", "2-Sep", "1-DEC", "nan", "NA", "NULL",
                                                                     "None", "MARCH1"], "stored as given"
    date, missing = "looks like a date a spreadsheet made from a gene name", "looks like a missing-value token"
    assert [str(p) for p in dataset.warnings.found] == [
        f"results.csv, line {line}, column gene: gene symbol {reason}: {name!r}" for line, name, reason in (
            (4, "1-Mar", date), (5, "2-Sep", date), (6, "1-DEC", date), (7, "nan", missing), (8, "NA", missing),
            (9, "NULL", missing), (10, "None", missing))]
