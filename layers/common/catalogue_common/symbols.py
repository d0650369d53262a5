"""What a gene symbol may be (docs/contract.md, "Loading data" and "Genes"), decided here once for the ingestion,
which refuses a dataset holding a symbol no request could name, and for the API, whose gene parameters accept
exactly such symbols.

A symbol is one word of at most 200 characters: no control character, no Unicode whitespace (a no-break space
included) and no format character (a zero-width space, a byte-order mark), and it does not start with `=`, `+`,
`-` or `@` (a spreadsheet would run a tab-separated download's cell as a formula). The patterns are written for
both regular-expression engines that apply them: RE2 (pyarrow, over whole columns) and Rust's regex (pydantic).

Some valid symbols deserve a person's look, and the load report warns about them without refusing: names a
spreadsheet made out of gene names (`1-Mar` was MARCH1, `2-Sep` was SEPT2), and missing-value tokens (`NA`,
`nan`, `NULL`, `None`), which a pipeline may have written for an empty cell; both are stored as given.
"""
from __future__ import annotations

MAX_LENGTH = 200
NOT_IN_A_WORD = r"\p{Cc}\p{Cf}\p{Z}\s"  # control, format and separator characters, and whitespace
VALID = rf"^[^=+\-@{NOT_IN_A_WORD}][^{NOT_IN_A_WORD}]{{0,{MAX_LENGTH - 1}}}$"
# The same rule for readers of the OpenAPI document without Unicode property classes (JSON Schema's ECMA-262
# regular expressions without the u flag; Schemathesis's generator): the control characters, every separator and
# the common format characters (soft hyphen, zero-width and direction marks, word joiner, byte order mark) spelled out
# as ranges. A rarer format character passes this pattern and is still refused by VALID, with a 400.
SPELLED_OUT = r"\x00-\x20\x7f-\xa0\xad\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff"
VALID_SPELLED_OUT = rf"^[^=+\-@{SPELLED_OUT}][^{SPELLED_OUT}]{{0,{MAX_LENGTH - 1}}}$"

# Why a symbol is refused, each with the pattern that finds it (the first that applies names the problem).
REFUSALS = (
    (r"\p{Cc}", "contains a control character"),
    (r"^[\s\p{Z}]|[\s\p{Z}]$", "has surrounding spaces"),
    (r"^[=+\-@]", "starts with =, +, - or @ (a spreadsheet would run it as a formula)"),
    (r"[\s\p{Z}\p{Cf}]", "contains whitespace or a format character (a no-break or zero-width space): a symbol is "
                         "one word"),
)
TOO_LONG = f"is longer than {MAX_LENGTH} characters, the longest gene name a request may give"

MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
# Warned about, stored as given.
WARNINGS = (
    (rf"^(?i:(0?[1-9]|[12][0-9]|3[01])-({MONTHS}))$", "looks like a date a spreadsheet made from a gene name"),
    (r"^(?i:na|nan|null|none)$", "looks like a missing-value token"),
)
