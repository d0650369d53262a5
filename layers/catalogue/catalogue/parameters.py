"""Strict query-string validation: unknown, repeated, empty, too long or invalid parameters answer 400."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import InvalidParameter

MAX_LENGTH = 200


@dataclass(frozen=True)
class Parameter:
    choices: tuple[str, ...] = ()  # empty: free text
    aliases: dict[str, str] = field(default_factory=dict)  # accepted value -> canonical value
    synonyms: tuple[str, ...] = ()  # other names of the same parameter
    default: str | None = None


def parse(pairs: Iterable[tuple[str, str]], spec: dict[str, Parameter]) -> dict[str, str | None]:
    """Canonical name -> value (or its default); all problems are reported at once, each naming its parameter."""
    canonical = {alias: name for name, p in spec.items() for alias in (name, *p.synonyms)}
    given: dict[str, list[tuple[str, str]]] = {}
    problems: dict[str, str] = {}
    for raw_name, value in pairs:
        if raw_name not in canonical:
            problems[raw_name] = f"unknown parameter (accepted: {', '.join(sorted(canonical))})"
        else:
            given.setdefault(canonical[raw_name], []).append((raw_name, value))
    values: dict[str, str | None] = {name: p.default for name, p in spec.items()}
    for name, occurrences in given.items():
        raw_name, value = occurrences[0]
        p = spec[name]
        if len(occurrences) > 1:
            problems[raw_name] = "given more than once"
        elif not value.strip():
            problems[raw_name] = "empty value"
        elif len(value) > MAX_LENGTH:
            problems[raw_name] = f"longer than {MAX_LENGTH} characters"
        elif not value.isprintable():
            problems[raw_name] = "contains control characters"
        elif p.choices and p.aliases.get(value, value) not in p.choices:
            problems[raw_name] = f"must be one of: {', '.join((*p.choices, *p.aliases))}"
        else:
            values[name] = p.aliases.get(value, value)
    if problems:
        names = ", ".join(sorted(problems))
        raise InvalidParameter(f"Invalid query parameters: {names}.",
                               [{"parameter": n, "problem": problems[n]} for n in sorted(problems)])
    return values
