"""The demo's gene reference: Bioconductor's org.Hs.eg.db (human genes: NCBI symbols, aliases, Ensembl gene IDs), as
Debian packages it (`r-bioc-org.hs.eg.db`), converted to the columns of HGNC's complete set that the ingestion
reads (symbol, ensembl_gene_id, alias_symbol, prev_symbol).

    python -m devtools.data.genes [--out FILE]     # prints the file's path, source and date

Why this source: a registry package the machine can reach (Debian's archive), real names (so that `make demo`
resolves `tp53`, `SEPT2` and Ensembl IDs), and no R needed: its SQLite file is read directly. The package file is
pinned by version and SHA-256, and the converted file is cached under .local/reference/.

What the conversion decides, because HGNC's format asks for it and the source does not give it:
* org.Hs.eg.db does not tell previous symbols from aliases: every one of its aliases goes to alias_symbol.
* A gene with several Ensembl IDs keeps the smallest; an Ensembl ID that NCBI gives to several genes is left out
  (the ingestion refuses an Ensembl ID given to two genes).
* A symbol given to two genes keeps the first by NCBI's internal order; the others are left out.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".local" / "reference"
PACKAGE = "r-bioc-org.hs.eg.db"
VERSION = "3.16.0-1"
URL = f"http://deb.debian.org/debian/pool/main/r/{PACKAGE}/{PACKAGE}_{VERSION}_all.deb"
SHA256 = "0f61810d35b858915b1a9787d8dcab08b7e164c14c20a9e1d86eb9837308c2c2"
SQLITE = "org.Hs.eg.sqlite"
HEADER = ("symbol", "ensembl_gene_id", "alias_symbol", "prev_symbol", "entrez_id")


@dataclass(frozen=True)
class Reference:
    path: Path
    source: str
    date: str
    genes: int


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def download(target: Path) -> None:
    """The pinned package file from Debian's archive (apt's own download if the archive refuses a plain GET)."""
    try:
        with urllib.request.urlopen(URL, timeout=120) as response:
            target.write_bytes(response.read())
    except OSError as error:
        log(f"  {URL}: {error}; trying apt-get download")
        subprocess.run(["apt-get", "download", f"{PACKAGE}={VERSION}"], cwd=target.parent, check=True)
        next(target.parent.glob(f"{PACKAGE}_*.deb")).rename(target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != SHA256:
        target.unlink()
        raise RuntimeError(f"{URL}: SHA-256 {digest}, expected {SHA256}")


def members(deb: bytes) -> dict[str, bytes]:
    """The members of a Debian package (an `ar` archive): control.tar.*, data.tar.*."""
    if not deb.startswith(b"!<arch>\n"):
        raise ValueError("not a Debian package")
    out, at = {}, 8
    while at + 60 <= len(deb):
        name, size = deb[at:at + 16].decode().strip().rstrip("/"), int(deb[at + 48:at + 58].decode().strip())
        out[name] = deb[at + 60:at + 60 + size]
        at += 60 + size + size % 2
    return out


def extract(deb: Path, target: Path) -> None:
    """The package's SQLite file, into `target`."""
    data = next(v for k, v in members(deb.read_bytes()).items() if k.startswith("data.tar"))
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith(f"/{SQLITE}"))
        source = archive.extractfile(member)
        assert source is not None
        with target.open("wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)


def convert(sqlite: Path, out: Path) -> Reference:
    """HGNC-style TSV from the SQLite file; the reference's source and date from its metadata table."""
    db = sqlite3.connect(sqlite)
    try:
        symbols = dict(db.execute("SELECT _id, symbol FROM gene_info ORDER BY _id"))
        entrez = dict(db.execute("SELECT _id, gene_id FROM genes"))
        aliases: dict[int, list[str]] = defaultdict(list)
        for gene, alias in db.execute("SELECT _id, alias_symbol FROM alias ORDER BY _id, alias_symbol"):
            if alias != symbols.get(gene):
                aliases[gene].append(alias)
        owners: dict[str, set[int]] = defaultdict(set)
        for gene, ensembl in db.execute("SELECT _id, ensembl_id FROM ensembl"):
            owners[ensembl].add(gene)
        metadata = dict(db.execute("SELECT name, value FROM metadata"))
    finally:
        db.close()
    ensembl = {}
    for ensembl_id, genes in sorted(owners.items()):
        if len(genes) == 1:
            ensembl.setdefault(next(iter(genes)), ensembl_id)
    lines, seen = ["\t".join(HEADER)], set()
    for gene, symbol in symbols.items():
        if symbol in seen:
            continue
        seen.add(symbol)
        lines.append("\t".join((symbol, ensembl.get(gene, ""), "|".join(aliases[gene]), "", str(entrez.get(gene, "")))))
    out.write_text("\n".join(lines) + "\n")
    source = f"org.Hs.eg.db (Bioconductor), Debian {PACKAGE} {VERSION}"
    date = metadata.get("EGSOURCEDATE", VERSION)
    return Reference(out, source, date, len(lines) - 1)


def reference() -> Reference:
    """The converted reference, made once and cached."""
    out, about = CACHE / f"org.Hs.eg.db-{VERSION}.tsv", CACHE / f"org.Hs.eg.db-{VERSION}.json"
    if out.exists() and about.exists():
        return Reference(out, **json.loads(about.read_text()))
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        deb, sqlite = Path(work) / f"{PACKAGE}.deb", Path(work) / SQLITE
        log(f"  gene reference: {URL}")
        download(deb)
        extract(deb, sqlite)
        made = convert(sqlite, out)
    about.write_text(json.dumps({"source": made.source, "date": made.date, "genes": made.genes}))
    log(f"  gene reference: {made.genes:,} genes, {made.source}, {made.date}")
    return made


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    made = reference()
    print(f"{made.path}\t{made.source}\t{made.date}")
