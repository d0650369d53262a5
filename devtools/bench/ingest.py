"""Benchmark the ingestion (docs/contract.md, "Loading data") at 20 M rows (QUICK: 1 M): a whole-catalogue load from
files, replacing one 100 k-row dataset with the chosen design (per-dataset maintained relations) and with the global
refresh of production's materialised views, and the download files' share of a 2 M-row dataset's load.

    python -m devtools.bench.ingest [--quick] [--reload]   # make bench-ingest (which sets PYTHONPATH to the layers)

1. The full load: the demo files of the benchmark catalogue (the one `make bench` measures search on) loaded by the
   ingestion's bulk path, timed (and skipped with the figure of the last run when the data is already in place and
   --reload is not given).
2. A 100 k-row dataset added, then replaced by another version of it: end to end (file checks, the transaction with
   every derived relation, the Elasticsearch document), three times.
3. The same replacement the way the previous loader would have done it: the rows replaced, then both summaries
   refreshed whole (REFRESH MATERIALIZED VIEW on views built like production's, beside the tables), in one
   transaction; and REFRESH ... CONCURRENTLY, which does not block readers but takes longer.
4. The download files' share of a load: a 2 M-row dataset added end to end (its files written and uploaded in
   its transaction, docs/contract.md "Dataset files"), then the same files written and uploaded again alone
   (downloads.publish, as the load calls it); the share is files / (load - files), against <= 25 %.
5. The benchmark datasets deleted, the side views dropped, and perturb_seq vacuumed (so `make bench` measures
   search on a settled table again; the vacuum's time is reported too).
Writes .local/bench/ingest-<scale>.json and the ingestion section of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from catalogue_common.settings import Settings, settings
from ingestion import dataset, downloads, relations, run, store

from devtools.bench.harness import DATASETS, OUT, SCALES, SEED, log, machine, write_benchmarks_md
from devtools.data import demo_data, load_data

WORK = OUT / "ingest"
DATASET_ID, DATASET_ROWS, REPEATS = "bench_replace_100k", 100_000, 3
FILES_DATASET_ID, FILES_ROWS, FILES_SHARE = "bench_files_2m", 2_000_000, 0.25
SIDE_VIEWS = {r.name: f"{r.name}_globalrefresh" for r in relations.SUMMARIES}


def version(seed: int, dataset_id: str = DATASET_ID, rows: int = DATASET_ROWS) -> Path:
    """A dataset of `rows` rows named `dataset_id` (the demo generator's data under another id)."""
    folder = WORK / f"{dataset_id}-v{seed}" / dataset_id
    if not (folder / "results.csv").exists():
        shutil.rmtree(folder.parent, ignore_errors=True)
        [plan] = demo_data.plan(rows, 1, seed)
        demo_data.write(folder.parent, [plan], seed)
        (folder.parent / plan.dataset_id).rename(folder)
        document = json.loads((folder / "metadata.json").read_text())
        (folder / "metadata.json").write_text(json.dumps({**document, "dataset_id": dataset_id}))
    return folder


async def files_cost(target: Settings) -> dict:
    """The 2 M-row dataset loaded end to end, then its files written and uploaded alone as the load does."""
    folder = version(79, FILES_DATASET_ID, FILES_ROWS)  # written before the clock starts
    load_s = await timed(run.load(target, [folder], quiet=True))
    log(f"  loaded end to end in {load_s:.1f} s")
    conn = await run.connect(target)
    try:
        document = json.loads((folder / "metadata.json").read_text())
        began = time.perf_counter()
        async with conn.transaction(readonly=True):
            files = await downloads.publish(conn, downloads.Store(target), FILES_DATASET_ID, "bench-files", document)
        files_s = time.perf_counter() - began
        log(f"  its files alone in {files_s:.1f} s")
    finally:
        await conn.close()
    await run.delete(target, FILES_DATASET_ID)  # its objects with it, the extra load's too (prune)
    return {"rows": FILES_ROWS, "load_s": round(load_s, 2), "files_s": round(files_s, 2),
            "share": round(files_s / (load_s - files_s), 3), "bytes": {f.format: f.bytes for f in files}}


def full_load(scale: str, reload: bool) -> dict:
    rows, database, index = SCALES[scale]
    if not reload and load_data.in_place(database, index, rows, DATASETS, SEED):
        previous = WORK.parent / f"ingest-{scale}.json"
        figures = json.loads(previous.read_text())["full_load"] if previous.exists() else {}
        log(f"full load: {database} already in place; keeping the last measured figures {figures}")
        return {**figures, "reused": True}
    files = load_data.demo_files(rows, DATASETS, SEED)  # written before the clock starts
    began = time.monotonic()
    load_data.main(["--rows", str(rows), "--seed", str(SEED), "--datasets", str(DATASETS),
                    "--database", database, "--es-index", index])
    seconds = time.monotonic() - began
    size = sum(p.stat().st_size for p in files.rglob("*") if p.is_file())
    return {"rows": rows, "seconds": round(seconds, 1), "rows_per_s": round(rows / seconds),
            "input_bytes": size, "reused": False}


async def timed(coroutine) -> float:  # noqa: ANN001
    began = time.perf_counter()
    await coroutine
    return time.perf_counter() - began


async def replacements(target: Settings) -> dict:
    a, b = version(77), version(78)
    out: dict[str, list[float]] = {"add_s": [], "replace_s": [], "global_refresh_s": [], "concurrent_refresh_s": []}
    out["add_s"].append(await timed(run.load(target, [a], quiet=True)))
    for i in range(REPEATS):  # ours: b, a, b, ... each a real change
        out["replace_s"].append(await timed(run.load(target, [b if i % 2 == 0 else a], quiet=True)))
    conn = await run.connect(target)
    try:
        began = time.perf_counter()
        for r in relations.SUMMARIES:
            await conn.execute(f"DROP MATERIALIZED VIEW IF EXISTS {SIDE_VIEWS[r.name]}; CREATE MATERIALIZED VIEW "
                               f"{SIDE_VIEWS[r.name]} AS {r.select.format(where='true')}; CREATE UNIQUE INDEX ON "
                               f"{SIDE_VIEWS[r.name]} ({r.key})")
        out["build_side_views_s"] = [time.perf_counter() - began]
        prepared = [dataset.prepare(a), dataset.prepare(b)]
        for i in range(REPEATS):
            out["global_refresh_s"].append(await timed(_global(conn, prepared[i % 2])))
        out["concurrent_refresh_s"].append(await timed(_concurrent(conn)))
    finally:
        await conn.close()
    return {k: [round(v, 2) for v in values] for k, values in out.items()}


async def _global(conn: asyncpg.Connection, version: dataset.Dataset) -> None:
    """The previous design: the rows replaced, then both summaries refreshed over the whole table."""
    async with conn.transaction():
        await conn.execute("DELETE FROM perturb_seq WHERE dataset_id = $1", version.dataset_id)
        await store.copy_rows(conn, version, datetime.now(UTC))
        for view in SIDE_VIEWS.values():
            await conn.execute(f"REFRESH MATERIALIZED VIEW {view}")


async def _concurrent(conn: asyncpg.Connection) -> None:
    for view in SIDE_VIEWS.values():
        await conn.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {view}")


async def tidy(target: Settings) -> None:
    """The benchmark's own datasets and side views gone (an interrupted run leaves them; a whole load cannot drop
    perturb_seq while a side view depends on it)."""
    conn = await run.connect(target)
    try:
        if not await conn.fetchval("SELECT to_regclass('perturb_seq') IS NOT NULL"):
            return
        ours = [r[0] for r in await conn.fetch("SELECT DISTINCT dataset_id FROM perturb_seq WHERE dataset_id = ANY($1)",
                                               [DATASET_ID, FILES_DATASET_ID])]
        for dataset_id in ours:
            await run.delete(target, dataset_id)
        for view in SIDE_VIEWS.values():
            await conn.execute(f"DROP MATERIALIZED VIEW IF EXISTS {view}")
    finally:
        await conn.close()


async def settle(target: Settings) -> dict:
    await tidy(target)
    conn = await run.connect(target)
    try:
        began = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE) perturb_seq")
        return {"vacuum_s": round(time.perf_counter() - began, 1)}
    finally:
        await conn.close()


def markdown(scale: str, figures: dict) -> str:
    full, rep = figures["full_load"], figures["replace"]
    median = {k: statistics.median(v) for k, v in rep.items()}
    whole = (f"| whole catalogue from files ({full['rows']:,} rows, {full['input_bytes'] / 1e9:.2f} GB of CSV) | "
             f"{full['seconds']} s | {full['rows_per_s']:,} rows/s | ≤ 300 s: "
             f"{'met' if full['seconds'] <= 300 else 'MISSED'} |"
             if "seconds" in full else "| whole catalogue from files | (in place, measured in no earlier run) | | |")
    rows = [whole,
            f"| add a {DATASET_ROWS:,}-row dataset (end to end) | {median['add_s']:.2f} s | | |",
            f"| replace it, per-dataset relations (chosen; end to end, median of {REPEATS}) | "
            f"{median['replace_s']:.2f} s | {DATASET_ROWS / median['replace_s']:,.0f} rows/s | ≤ 10 s: "
            f"{'met' if median['replace_s'] <= 10 else 'MISSED'} |",
            f"| replace it, global REFRESH of both summaries (previous loader; median of {REPEATS}) | "
            f"{median['global_refresh_s']:.2f} s | | {median['global_refresh_s'] / median['replace_s']:.1f}x slower |",
            f"| REFRESH ... CONCURRENTLY of both summaries alone | {median['concurrent_refresh_s']:.2f} s | | |",
            f"| VACUUM (ANALYZE) perturb_seq afterwards | {figures['settle']['vacuum_s']} s | | |"]
    if cost := figures.get("files"):
        sizes = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in cost["bytes"].items())
        rows += [f"| add a {cost['rows']:,}-row dataset with its download files (end to end) | {cost['load_s']:.2f} s"
                 f" | {cost['rows'] / cost['load_s']:,.0f} rows/s | |",
                 f"| its download files alone, written and uploaded ({sizes}) | {cost['files_s']:.2f} s | | "
                 f"{cost['share']:.0%} of the rest of the load; ≤ {FILES_SHARE:.0%}: "
                 f"{'met' if cost['share'] <= FILES_SHARE else 'MISSED'} |"]
    return (f"Scale {scale}, run {figures['when']} on {figures['machine']}. All times wall clock.\n\n"
            "| what | time | throughput | target / comparison |\n|---|---|---|---|\n" + "\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 M rows instead of 20 M")
    parser.add_argument("--reload", action="store_true", help="measure the full load even if the data is in place")
    args = parser.parse_args()
    scale = "1M" if args.quick else "20M"
    _, database, index = SCALES[scale]
    asyncio.run(load_data.ensure_database(database))
    figures: dict = {"when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                     "machine": ", ".join(f"{k} {v}" for k, v in machine().items())}
    target = settings("ingest").at(database, index)
    asyncio.run(tidy(target))  # an interrupted run's leftovers
    figures["full_load"] = full_load(scale, args.reload)
    log("replacing a 100 k-row dataset ...")
    figures["replace"] = asyncio.run(replacements(target))
    log(f"adding a {FILES_ROWS:,}-row dataset with its download files ...")
    figures["files"] = asyncio.run(files_cost(target))
    figures["settle"] = asyncio.run(settle(target))
    WORK.parent.mkdir(parents=True, exist_ok=True)
    (WORK.parent / f"ingest-{scale}.json").write_text(json.dumps(figures, indent=1))
    text = markdown(scale, figures)
    print(text)
    write_benchmarks_md(f"ingest {scale}", text, heading=f"Ingestion: {scale}")


if __name__ == "__main__":
    main()
