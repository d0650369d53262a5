"""Parameter kinds and the contract's parameter rules (3.1, 5, 5.1) for every endpoint.

An endpoint declares its query parameters as one pydantic model (a FastAPI query-parameter model) built from the
kinds below. FastAPI validates requests with it and generates the OpenAPI document from it (docs/contract.md, "OpenAPI
document"), so the document cannot drift from the validation. Two of the contract's rules FastAPI does not have: a
repeated parameter (FastAPI silently keeps the last) and a parameter given under both of its names are 400s, and every
problem is a docs/contract.md, "Errors" 400 naming the parameter, never FastAPI's 422. `check` adds those rules in
front of FastAPI's own validation, `StrictRoute` runs it for every route, and tools and tests call it directly.
"""
from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Coroutine, Iterable
from typing import Annotated, Any, ClassVar

from catalogue_common import symbols
from catalogue_common.vocabulary import Direction
from fastapi import Path
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from . import cursors
from .errors import InvalidParameter

MAX_LENGTH = symbols.MAX_LENGTH
# Printable, with at least one visible character: refuses empty and blank values and control characters.
VISIBLE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
Text = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH, pattern=VISIBLE)]
# A gene parameter: exactly what a stored symbol may be (catalogue_common.symbols), so that every stored symbol can be
# asked for and nothing else is taken for one.
GENE_NAME: dict[str, Any] = {"min_length": 1, "max_length": symbols.MAX_LENGTH, "pattern": symbols.VALID,
                             "json_schema_extra": {"pattern": symbols.VALID_SPELLED_OUT}}
GeneName = Annotated[str, Field(**GENE_NAME)]
Problems = dict[str, str]


def _decimal(value: Any) -> Any:
    """docs/contract.md, "Lists and caching": a decimal integer; pydantic alone would also take "+5", " 5", "1.0" and
    "1_000"."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit() and len(value) <= 9):
        raise ValueError("empty value" if not value.strip() else "must be a decimal integer")
    return value


# A decimal integer in bounds: `limit: Annotated[int, Field(ge=1, le=100), DECIMAL] = 20` (the bounds first: after
# the validator, pydantic would no longer apply them as the integer's own minimum and maximum).
DECIMAL = BeforeValidator(_decimal)
# A text parameter that may repeat (`?tissue=a&tissue=b`), at most 50 times.
Texts = Annotated[list[Text], Field(max_length=50)]


class QueryModel(BaseModel):
    """The query parameters of one endpoint. Unknown names are refused (extra="forbid")."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # A second name of a parameter (other name -> the parameter's field): giving both is giving it twice.
    SYNONYMS: ClassVar[dict[str, str]] = {}


class NoParameters(QueryModel):
    """An endpoint without query parameters: any parameter is unknown."""


def _repeatable(model: type[QueryModel], name: str) -> bool:
    field = model.model_fields.get(name)
    return field is not None and typing.get_origin(field.annotation) is list


def _as_input(model: type[QueryModel], pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, Any], Problems]:
    """Pairs -> the model's input (lists for repeatable parameters), and the repetition problems."""
    values: dict[str, Any] = {}
    problems: Problems = {}
    for name, value in pairs:
        if _repeatable(model, name):
            values.setdefault(name, []).append(value)
        elif name in values:
            problems[name] = "given more than once"
        else:
            values[name] = value
    for other, name in model.SYNONYMS.items():
        if other in values and name in values:
            problems[name] = f"given more than once (as {name} and as its synonym {other})"
    return values, problems


NOT_A_GENE_NAME = (f"not a gene name: one word of at most {symbols.MAX_LENGTH} characters, without whitespace or "
                   "control characters, not starting with =, +, - or @")


def describe(error: dict[str, Any], accepted: Iterable[str]) -> tuple[str, str]:
    """A pydantic error -> (parameter name, a problem a person can act on)."""
    loc, kind, ctx, value = error["loc"], error["type"], error.get("ctx", {}), error.get("input")
    name = str(loc[1]) if len(loc) > 1 and loc[0] in ("query", "path") else str(loc[0])
    problems: dict[str, Callable[[], str]] = {
        "extra_forbidden": lambda: f"unknown parameter (accepted: {', '.join(sorted(accepted)) or 'none'})",
        "missing": lambda: "required",
        "string_too_short": lambda: "empty value",
        "string_pattern_mismatch": lambda: "empty value" if not str(value).strip() else _mismatch(ctx.get("pattern")),
        "string_too_long": lambda: f"longer than {ctx.get('max_length')} characters",
        "literal_error": lambda: "must be one of: " + ", ".join(re.findall(r"'([^']*)'", ctx.get("expected", ""))),
        "too_long": lambda: f"given more than {ctx.get('max_length')} times",
        "greater_than_equal": lambda: f"must be at least {ctx.get('ge')}",
        "less_than_equal": lambda: f"must be at most {ctx.get('le')}",
        "value_error": lambda: str(error["msg"]).removeprefix("Value error, "),
    }
    numbers = {"float_parsing": "must be a number", "finite_number": "must be a finite number"}
    default = numbers.get(kind, "invalid value")
    return name, problems.get(kind, lambda: default)()


def _mismatch(pattern: str | None) -> str:
    """What a value that is not of its kind's form is, by that form."""
    if pattern == symbols.VALID:
        return NOT_A_GENE_NAME
    if pattern == cursors.PATTERN:
        return cursors.problem(cursors.NOT_OURS)
    return "contains control characters"


def refuse(problems: Problems) -> InvalidParameter:
    names = sorted(problems)
    return InvalidParameter(f"Invalid parameters: {', '.join(names)}.",
                            [{"parameter": n, "problem": problems[n]} for n in names])


def check[M: QueryModel](model: type[M], pairs: Iterable[tuple[str, str]]) -> M:
    """The validated parameters, or InvalidParameter naming every offending parameter at once."""
    values, problems = _as_input(model, pairs)
    try:
        parsed = model.model_validate(values)
    except ValidationError as error:
        for e in error.errors():
            name, problem = describe(dict(e), model.model_fields)
            problems.setdefault(name, problem)
    if problems:
        raise refuse(problems)
    return parsed


def query_model(endpoint: Callable[..., Any]) -> type[QueryModel]:
    """The QueryModel an endpoint declares (`params: Annotated[Model, Query()]`), else NoParameters."""
    for hint in typing.get_type_hints(endpoint, include_extras=True).values():
        kind = typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint
        if inspect.isclass(kind) and issubclass(kind, QueryModel):
            return kind
    return NoParameters


class StrictRoute(APIRoute):
    """Runs `check` before FastAPI's own validation, and turns any RequestValidationError (path parameters) into
    the contract's 400; FastAPI's 422 `{"detail": ...}` never reaches a client."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler, model = super().get_route_handler(), query_model(self.endpoint)

        async def strict(request: Request) -> Response:
            check(model, request.query_params.multi_items())
            try:
                return await handler(request)
            except RequestValidationError as error:
                raise refuse(dict(describe(dict(e), model.model_fields) for e in error.errors())) from None
        return strict


Padj = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Log2fc = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class GeneFilters(QueryModel):
    """The row filters that /v1/search, /v1/datasets/{id}/rows and /v1/genes/{gene}/rows share: the genes, the
    direction and the thresholds (docs/contract.md, "Search" and "Thresholds")."""

    SYNONYMS: ClassVar[dict[str, str]] = {"change_direction": "effect_direction"}
    perturbation_gene_name: GeneName | None = Field(
        None, description="The perturbed gene: a symbol, previous symbol, alias or Ensembl gene ID, in any case; "
                          "rows under every spelling of the gene match.")
    phenotype_gene_name: GeneName | None = Field(None, description="The measured gene, read as the perturbed one.")
    effect_direction: Direction | None = Field(
        None, description="`increased`: log2 fold change > 0; `decreased`: < 0 (NULL and NaN never match).")
    change_direction: Direction | None = Field(None, description="Synonym of `effect_direction`.")
    max_padj: Padj | None = Field(None, description="Only rows with padj <= max_padj (NULL and NaN never pass).")
    min_abs_log2fc: Log2fc | None = Field(
        None, description="Only rows with |log2 fold change| >= min_abs_log2fc (NULL and NaN never pass; "
                          "+-Infinity do).")

    @property
    def direction(self) -> Direction | None:
        return self.effect_direction or self.change_direction

    @property
    def thresholds(self) -> list[float | None]:
        """The thresholds as a cursor is bound to them."""
        return [self.max_padj, self.min_abs_log2fc]


Cursor = Annotated[str, Field(min_length=1, max_length=cursors.MAX_LENGTH, pattern=cursors.PATTERN,
                              description="The `next_cursor` of the previous page, unchanged.")]
DatasetId = Annotated[str, Path(min_length=1, max_length=MAX_LENGTH, description="A dataset's `dataset_id`.")]
