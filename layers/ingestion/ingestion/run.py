"""Loading and deleting datasets, end to end: check the files, write PostgreSQL, then Elasticsearch; the load
record as it goes; progress, and a summary of what happened to each dataset. Used by the command line and by the
S3-triggered function.

A dataset's load is one unit across both stores: it is `loaded` only once PostgreSQL has committed its rows and
Elasticsearch holds its document. When the document cannot be written, the record says `incomplete` and what each
store holds, and the next run of the same files writes only the document (records.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Never

import asyncpg
from catalogue_common.settings import Settings
from elasticsearch import ApiError, Elasticsearch, TransportError
from tqdm import tqdm

from . import dataset as datasets
from . import documents, downloads, genes, records, store
from .dataset import Dataset
from .problems import Problems, Refused
from .records import Outcome, Record

Log = Callable[[str], None]
ELASTICSEARCH_ERRORS = (ApiError, TransportError, OSError)


def stderr(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass
class Summary:
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # dataset_id -> what happened to it
    rows: int = 0
    seconds: float = 0.0
    refusals: list[Refused] = field(default_factory=list)
    warnings: dict[str, Problems] = field(default_factory=dict)  # dataset_id -> what a person should look at
    incomplete: dict[str, str] = field(default_factory=dict)  # dataset_id -> what each store holds

    def lines(self) -> list[str]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        rate = f", {self.rows / self.seconds:,.0f} rows/s" if self.seconds and self.rows else ""
        head = ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "nothing to do"
        warned = [f"dataset {dataset_id} loaded with warnings:\n{found.report()}"
                  for dataset_id, found in sorted(self.warnings.items())]
        unfinished = [f"dataset {dataset_id} incomplete: {what}; run the same load again to finish it"
                      for dataset_id, what in sorted(self.incomplete.items())]
        return [f"{head}; {self.rows:,} rows written in {self.seconds:.1f} s{rate}",
                *(str(r) for r in self.refusals), *unfinished, *warned]


def progress_bar(total: int, label: str, quiet: bool) -> tqdm[Never]:
    return tqdm(total=total, unit=" rows", unit_scale=True, desc=label, file=sys.stderr, disable=quiet,
                mininterval=1.0, dynamic_ncols=True)


def search_engine(target: Settings) -> Elasticsearch:
    """The writer's Elasticsearch client: the settings' node, credentials and certificate verification."""
    return Elasticsearch(**target.elasticsearch_options(), request_timeout=60)


async def connect(target: Settings) -> asyncpg.Connection:
    """The writer's PostgreSQL connection, with the settings' TLS (PS_SSLMODE, PS_SSLROOTCERT) like the API's."""
    # application_name only, which a pooler passes on (PgBouncer refuses other startup parameters; RDS Proxy lends
    # server connections as it does). The commits must wait for their WAL (VACUUM cannot mark a page all-visible
    # while its rows' asynchronous commit is not yet flushed, and a bulk load vacuums right after its COPY):
    # synchronous_commit is the writer role's default (sql/roles.sql), and the local server's (pg_server.py).
    return await asyncpg.connect(**target.postgres_options(), timeout=60,
                                 server_settings={"application_name": "catalogue-ingest"})


@dataclass
class Session:
    """What a load works with: a connection for the data, one for its records (heartbeats run beside the work),
    the Elasticsearch client and the index documents go to (the generation PostgreSQL's catalogue belongs to), and
    the bucket of the whole-dataset files."""
    conn: asyncpg.Connection
    records: asyncpg.Connection
    es: Elasticsearch
    index: str
    files: downloads.Store


@contextlib.asynccontextmanager
async def session(target: Settings, writes_documents: bool = False) -> AsyncIterator[Session]:
    """The stores opened for one run; `writes_documents`: the run writes datasets' documents into the catalogue's
    generation, so a missing one stops it before anything changes (documents.MissingGeneration)."""
    es, conn, log = search_engine(target), await connect(target), None
    try:
        log = await connect(target)
        await store.ensure_schema(conn)
        generation = await store.documents_index(conn)
        index = await asyncio.to_thread(documents.ready, es, target.es_index, generation, writes_documents)
        yield Session(conn, log, es, index, downloads.Store(target))
    finally:
        for c in (conn, log):
            if c is not None:
                await c.close()
        es.close()


async def load(target: Settings, folders: list[Path], quiet: bool = False, log: Log = stderr) -> Summary:
    """Each dataset folder replaced as one unit (or left as it was when refused or unchanged)."""
    summary, began = Summary(), time.monotonic()
    async with session(target, writes_documents=True) as s:
        for folder in folders:
            await _load_one(s, folder, summary, quiet, log)
    summary.seconds = time.monotonic() - began
    return summary


async def _load_one(s: Session, folder: Path, summary: Summary, quiet: bool, log: Log) -> None:
    record = await Record.begin(s.records, folder.name, datasets.checksum(folder))
    async with record.heartbeat():
        try:
            prepared = await asyncio.to_thread(datasets.prepare, folder)
        except Refused as refusal:
            await record.finish("refused", detail=refusal.problems.report())
            summary.outcomes[folder.name], summary.refusals = "refused", [*summary.refusals, refusal]
            log(f"{folder.name}: refused ({refusal.problems.total} problems)")
            return
        outcome = await _failing(record, _store(s, prepared, record, quiet))
    summary.outcomes[prepared.dataset_id] = outcome
    if outcome in ("loaded", "incomplete"):
        summary.rows += prepared.rows.num_rows
    if outcome == "loaded" and prepared.warnings:
        summary.warnings[prepared.dataset_id] = prepared.warnings
    if outcome == "incomplete":
        summary.incomplete[prepared.dataset_id] = store.STORED
    log(f"{prepared.dataset_id}: {outcome} ({prepared.rows.num_rows:,} rows)")


async def _failing[T](record: Record, work: Awaitable[T]) -> T:
    """The work's result; if it raises, the record says `failed` (nothing committed), and the error goes on."""
    try:
        return await work
    except BaseException as error:
        await record.finish("failed", detail=f"{type(error).__name__}: {error}")
        raise


async def _store(s: Session, dataset: Dataset, record: Record, quiet: bool) -> Outcome:
    """PostgreSQL first (unless it already holds these very files), then the document; the record's outcome."""
    state = await records.last_state(s.conn, dataset.dataset_id)
    if state == ("loaded", dataset.checksum):
        await record.finish("unchanged", rows=dataset.rows.num_rows)
        return "unchanged"
    if state != ("incomplete", dataset.checksum):  # else a run that stopped after PostgreSQL: finish it
        with progress_bar(dataset.rows.num_rows, dataset.dataset_id, quiet) as bar:
            await store.replace(s.conn, dataset, record.id, progress=bar.update, files=s.files)
        await _prune(s.files, {dataset.dataset_id: dataset.checksum})
    try:
        await asyncio.to_thread(documents.put, s.es, s.index, dataset.document)
        await store.documents_written(s.conn)
    except ELASTICSEARCH_ERRORS as error:
        await record.finish("incomplete", rows=dataset.rows.num_rows, detail=f"{store.STORED} ({error!r})")
        return "incomplete"
    await record.finish("loaded", rows=dataset.rows.num_rows, warnings=dataset.warnings.report() or None)
    return "loaded"


async def delete(target: Settings, dataset_id: str) -> tuple[Outcome, int]:
    """The dataset removed from both stores: (outcome, rows it had); `incomplete` when its document could not be
    removed (running the delete again finishes it)."""
    async with session(target) as s:
        record = await Record.begin(s.records, dataset_id)
        async with record.heartbeat():
            rows = await _failing(record, store.delete(s.conn, dataset_id, record.id))
            await _prune(s.files, {dataset_id: None})
            try:
                await asyncio.to_thread(documents.remove, s.es, s.index, dataset_id)
                await store.documents_written(s.conn)
            except ELASTICSEARCH_ERRORS as error:
                await record.finish("incomplete", rows=rows, detail=f"{store.REMOVED} ({error!r})")
                return "incomplete", rows
            await record.finish("deleted", rows=rows)
            return "deleted", rows


async def _prune(files: downloads.Store, keep: dict[str, str | None], whole: bool = False) -> None:
    """After a commit: the objects of other loads deleted (downloads.Store.prune). A failure here leaves old objects
    that nothing names: reported, not fatal."""
    try:
        await asyncio.to_thread(files.prune, keep, whole)
    except Exception as error:  # S3 unreachable or refusing: the load itself committed
        stderr(f"old download files not removed ({error!r}); the next load of the dataset removes them")


async def load_genes(target: Settings, path: Path, source: str | None = None, date: str | None = None,
                     quiet: bool = False) -> Refused | None:
    """The gene reference in `path` replaces the catalogue's (and every stored symbol is placed anew), or the
    refusal that left it unchanged (recorded)."""
    async with session(target) as s:
        record = await Record.begin(s.records, genes.RECORD_ID, genes.file_checksum(path))
        async with record.heartbeat():
            try:
                reference = await asyncio.to_thread(genes.read, path)
            except Refused as refusal:
                await record.finish("refused", detail=refusal.problems.report())
                return refusal
            datasets = await s.conn.fetchval("SELECT count(*) FROM perturb_seq_dataset_statistics")
            with progress_bar(datasets, "search answers", quiet) as bar:
                bar.unit = " datasets"
                await _failing(record, genes.load(s.conn, reference, source or path.name,
                                                  date or genes.default_date(path), record.id, bar.update))
        return None


async def _publish(s: Session, loaded: store.Loaded, document: dict[str, Any]) -> list[downloads.File]:
    """One dataset's files of a whole load, read from the staging schema (an asyncpg cursor needs a transaction)."""
    async with s.conn.transaction(readonly=True):
        return await downloads.publish(s.conn, s.files, loaded.dataset_id, loaded.checksum, document,
                                       schema=store.STAGING)


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

    def __init__(self, log: Log, bar: tqdm[Never]) -> None:
        self.log, self.bar, self.began, self.name = log, bar, time.monotonic(), "copy"

    def __call__(self, name: str) -> None:
        self.bar.close()
        now = time.monotonic()
        self.log(f"  {self.name}: {now - self.began:.1f} s")
        self.began, self.name = now, name

    def end(self) -> None:
        self("")


WHOLE = "(whole catalogue)"  # the record of a whole-catalogue load, beside one record per dataset it holds


async def load_all(target: Settings, folders: list[Path], production_views: bool = False, quiet: bool = False,
                   log: Log = stderr, with_documents: bool = True) -> Summary:
    """The whole catalogue replaced by these folders: any refusal refuses the load, and nothing changes. The new
    Elasticsearch generation is built before PostgreSQL swaps the catalogue in, and named by the alias after
    (documents.py): a reader sees the old catalogue or the new one, in both stores."""
    summary, began = Summary(), time.monotonic()
    async with session(target) as s:
        record = await Record.begin(s.records, WHOLE)
        async with record.heartbeat():
            loaded = await _failing(record, _copy_all(s, folders, summary, quiet, log, production_views,
                                                      with_documents, target.es_index))
        if summary.refusals:
            await record.finish("refused", detail="\n".join(str(r) for r in summary.refusals))
        else:
            await record.finish("loaded", rows=sum(d.rows for d in loaded))
    summary.outcomes = {r.dataset_id: "refused" for r in summary.refusals} or {d.dataset_id: "loaded" for d in loaded}
    summary.warnings = {d.dataset_id: d.warnings for d in loaded if d.warnings}
    summary.rows, summary.seconds = sum(d.rows for d in loaded), time.monotonic() - began
    return summary


async def _copy_all(s: Session, folders: list[Path], summary: Summary, quiet: bool, log: Log,
                    production_views: bool, with_documents: bool, alias: str) -> list[store.Loaded]:
    loaded: list[store.Loaded] = []
    documents_: list[dict[str, Any]] = []
    started = await store.start_bulk(s.conn)
    with progress_bar(0, "perturb_seq", quiet) as bar:
        phases = Phases(log, bar)
        async for item in _checked(folders):
            if isinstance(item, Refused):
                summary.refusals.append(item)
            elif not summary.refusals:  # after a refusal, only checking goes on: every refusal is reported
                bar.total = (bar.total or 0) + item.rows.num_rows
                await store.copy_rows(s.conn, item, started, schema=store.STAGING, progress=bar.update)
                loaded.append(store.Loaded(item.dataset_id, item.checksum, item.rows.num_rows, item.warnings,
                                           item.results_file))
                documents_.append(item.document)
        if summary.refusals:
            await store.abandon_bulk(s.conn)
            return []
        await store.prepare_bulk(s.conn, loaded, production_views, phase=phases)
        phases("files")
        files = {d.dataset_id: await _publish(s, d, document) for d, document in zip(loaded, documents_, strict=True)}
        phases("documents")
        generation = await asyncio.to_thread(documents.build_generation, s.es, alias, documents_) \
            if with_documents else None
        phases("swap")
        await store.swap_bulk(s.conn, loaded, started, generation, production_views, files)
        if generation is not None:
            await asyncio.to_thread(documents.switch, s.es, alias, generation)
        await _prune(s.files, {d.dataset_id: d.checksum for d in loaded}, whole=True)
        phases.end()
    return loaded
