"""Loading and deleting datasets, end to end: check the files, write PostgreSQL, then Elasticsearch; progress,
and a summary of what happened to each dataset. Used by the command line and by the S3-triggered function."""
from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from catalogue_common.settings import Settings
from elasticsearch import Elasticsearch
from tqdm import tqdm

from . import answers, documents, genes, store
from . import dataset as datasets
from .dataset import Dataset
from .problems import Problems, Refused


@dataclass
class Summary:
    outcomes: dict[str, str] = field(default_factory=dict)  # dataset_id -> loaded | unchanged | refused | deleted
    rows: int = 0
    seconds: float = 0.0
    refusals: list[Refused] = field(default_factory=list)
    warnings: dict[str, Problems] = field(default_factory=dict)  # dataset_id -> what a person should look at

    def lines(self) -> list[str]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        rate = f", {self.rows / self.seconds:,.0f} rows/s" if self.seconds and self.rows else ""
        head = ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "nothing to do"
        warned = [f"dataset {dataset_id} loaded with warnings:\n{found.report()}"
                  for dataset_id, found in sorted(self.warnings.items())]
        return [f"{head}; {self.rows:,} rows written in {self.seconds:.1f} s{rate}",
                *(str(r) for r in self.refusals), *warned]


def progress_bar(total: int, label: str, quiet: bool) -> tqdm:
    return tqdm(total=total, unit=" rows", unit_scale=True, desc=label, file=sys.stderr, disable=quiet,
                mininterval=1.0, dynamic_ncols=True)


def search_engine(target: Settings) -> Elasticsearch:
    """The writer's Elasticsearch client: the settings' node, credentials and certificate verification."""
    return Elasticsearch(**target.elasticsearch_options(), request_timeout=60)


async def connect(target: Settings) -> asyncpg.Connection:
    """The writer's PostgreSQL connection, with the settings' TLS (PS_SSLMODE, PS_SSLROOTCERT) like the API's."""
    # Commits wait for their WAL (whatever the server's default): VACUUM cannot mark a page all-visible while its
    # rows' asynchronous commit is not yet flushed, and a bulk load vacuums right after its COPY.
    return await asyncpg.connect(**target.postgres_options(), timeout=60,
                                 server_settings={"application_name": "catalogue-ingest", "synchronous_commit": "on"})


async def load(target: Settings, folders: list[Path], quiet: bool = False,
               log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> Summary:
    """Each dataset folder replaced as one unit (or left as it was when refused or unchanged)."""
    summary, began = Summary(), time.monotonic()
    es = search_engine(target)
    conn = await connect(target)
    try:
        await store.ensure_schema(conn)
        for folder in folders:
            started = datetime.now(UTC)  # the refusal's record covers its checks
            try:
                prepared = await asyncio.to_thread(datasets.prepare, folder)
            except Refused as refusal:
                await store.record(conn, folder.name, "refused", started,
                                   datasets.checksum(folder), detail=refusal.problems.report())
                summary.outcomes[folder.name], summary.refusals = "refused", [*summary.refusals, refusal]
                log(f"{folder.name}: refused ({refusal.problems.total} problems)")
                continue
            with progress_bar(prepared.rows.num_rows, prepared.dataset_id, quiet) as bar:
                outcome = await store.replace(conn, prepared, progress=bar.update)
            if outcome == "loaded":
                documents.put(es, target.es_index, prepared.document)  # after PostgreSQL committed (SPEC 7)
                summary.rows += prepared.rows.num_rows
                if prepared.warnings:
                    summary.warnings[prepared.dataset_id] = prepared.warnings
            summary.outcomes[prepared.dataset_id] = outcome
            log(f"{prepared.dataset_id}: {outcome} ({prepared.rows.num_rows:,} rows)")
    finally:
        await conn.close()
        es.close()
    summary.seconds = time.monotonic() - began
    return summary


async def load_genes(target: Settings, path: Path, source: str | None = None, date: str | None = None,
                     quiet: bool = False) -> Refused | None:
    """The gene reference in `path` replaces the catalogue's (and every stored symbol is placed anew), or the
    refusal that left it unchanged (recorded)."""
    conn = await connect(target)
    try:
        await store.ensure_schema(conn)
        started = datetime.now(UTC)
        try:
            reference = await asyncio.to_thread(genes.read, path)
        except Refused as refusal:
            await store.record(conn, genes.RECORD_ID, "refused", started, genes.file_checksum(path),
                               detail=refusal.problems.report())
            return refusal
        with progress_bar(len(answers.VARIANTS), "search answers", quiet) as bar:
            bar.unit = " variants"
            await genes.load(conn, reference, source or path.name, date or genes.default_date(path), bar.update)
        return None
    finally:
        await conn.close()


async def delete(target: Settings, dataset_id: str) -> bool:
    es = search_engine(target)
    conn = await connect(target)
    try:
        await store.ensure_schema(conn)
        had_rows = await store.delete(conn, dataset_id)
        documents.remove(es, target.es_index, dataset_id)
        return had_rows
    finally:
        await conn.close()
        es.close()


async def _checked(folders: list[Path]) -> AsyncIterator[Dataset | Refused]:
    """Each folder checked in a thread, one ahead: the next dataset is checked while this one is copied."""
    ahead = asyncio.create_task(asyncio.to_thread(datasets.prepare, folders[0])) if folders else None
    for i in range(len(folders)):
        assert ahead is not None
        try:
            item: Dataset | Refused = await ahead
        except Refused as refusal:
            item = refusal
        ahead = asyncio.create_task(asyncio.to_thread(datasets.prepare, folders[i + 1])) if i + 1 < len(folders) \
            else None
        yield item


class Phases:
    """Logs each phase of a bulk load with the time the previous one took."""

    def __init__(self, log: Callable[[str], None], bar: tqdm) -> None:
        self.log, self.bar, self.began, self.name = log, bar, time.monotonic(), "copy"

    def __call__(self, name: str) -> None:
        self.bar.close()
        now = time.monotonic()
        self.log(f"  {self.name}: {now - self.began:.1f} s")
        self.began, self.name = now, name

    def end(self) -> None:
        self("")


async def load_all(target: Settings, folders: list[Path], production_views: bool = False, quiet: bool = False,
                   log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
                   with_documents: bool = True) -> Summary:
    """The whole catalogue replaced by these folders: any refusal refuses the load, and nothing changes."""
    summary, began = Summary(), time.monotonic()
    loaded: list[store.Loaded] = []
    documents_: list[dict] = []
    conn = await connect(target)
    try:
        started = await store.start_bulk(conn)
        with progress_bar(0, "perturb_seq", quiet) as bar:
            phases = Phases(log, bar)
            async for item in _checked(folders):
                if isinstance(item, Refused):
                    summary.refusals.append(item)
                elif not summary.refusals:  # after a refusal, only checking goes on: every refusal is reported
                    bar.total += item.rows.num_rows
                    await store.copy_rows(conn, item, started, schema=store.STAGING, progress=bar.update)
                    loaded.append(store.Loaded(item.dataset_id, item.checksum, item.rows.num_rows, item.warnings,
                                               item.results_file))
                    documents_.append(item.document)
            if summary.refusals:
                await store.abandon_bulk(conn)
                summary.outcomes = {r.dataset_id: "refused" for r in summary.refusals}
                return summary
            await store.finish_bulk(conn, loaded, started, production_views, phase=phases)
            phases.end()
    finally:
        await conn.close()
    if with_documents:
        es = search_engine(target)
        try:
            documents.replace_all(es, target.es_index, documents_)
        finally:
            es.close()
    summary.outcomes = {d.dataset_id: "loaded" for d in loaded}
    summary.warnings = {d.dataset_id: d.warnings for d in loaded if d.warnings}
    summary.rows, summary.seconds = sum(d.rows for d in loaded), time.monotonic() - began
    return summary
