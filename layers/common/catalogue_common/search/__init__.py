"""Computing search answers: the shared query (`query`) and the answer's JSON (`answer`), used by the API for
filtered searches and by the ingestion for each dataset's stored filter-free answers."""
