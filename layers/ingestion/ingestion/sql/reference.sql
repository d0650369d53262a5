-- The gene reference (docs/contract.md, "Genes"): one row per gene, with the names a request or a stored symbol may
-- use for it (gene_reference_names: lower case, Ensembl IDs without version; catalogue_common.genes.key), and where
-- it came from. Replaced whole by a reference load (ingestion/genes.py); empty until one is loaded.
CREATE TABLE IF NOT EXISTS gene_reference (
    gene_id          integer PRIMARY KEY,
    approved_symbol  text NOT NULL UNIQUE,
    ensembl_gene_id  text UNIQUE,              -- as given, without its version; NULL when the source has none
    previous_symbols text[] NOT NULL,
    aliases          text[] NOT NULL
);
CREATE TABLE IF NOT EXISTS gene_reference_names (
    name    text NOT NULL,
    kind    text NOT NULL CHECK (kind IN ('approved', 'ensembl', 'previous', 'alias')),
    gene_id integer NOT NULL,
    PRIMARY KEY (name, kind, gene_id)
);
CREATE TABLE IF NOT EXISTS gene_reference_source (
    source    text NOT NULL,
    date      text NOT NULL,
    genes     integer NOT NULL,
    loaded_at timestamptz NOT NULL
);
