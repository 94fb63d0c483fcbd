"""A strict check of an AWS request against botocore's service model, before it is sent.

Why not botocore's own ``ParamValidator``: it checks types, required members and
minimum lengths only, so values SageMaker rejects on submission (an ``Environment`` key
``MY-VAR``, a subnet id with ``_``, a 33-character security-group id, a KMS id with a
space) pass a "validated" dry run, and moto checks nothing either. This walks the
operation's input shape recursively (structures, lists, maps and their keys) and checks
every rule the model states: required members, unknown members, unions, types,
patterns, minimum and maximum lengths, enums and numeric ranges. The first violation
becomes one :class:`~segtrain.errors.LaunchError` line naming the member's full path,
the value and the rule, e.g. ``CreateTrainingJob.Environment key 'MY-VAR' does not match
[a-zA-Z_][a-zA-Z0-9_]*``.

Written for any operation of any service model: ``CreateTrainingJob`` uses it now,
``CreateHyperParameterTuningJob`` uses the same function.

Patterns: the model's regexes are Java's (the service matches the whole value, as
``String.matches`` does), so each is checked with :func:`re.fullmatch` after
:func:`python_pattern` translates the Java-only parts: ``\\p{L}``-style Unicode classes
and POSIX ``\\p{Alnum}`` classes, UTF-16 surrogate pairs (``\\uD800\\uDC00``) and a
quantifier on ``$``. ``\\d``, ``\\w`` and ``\\s`` are ASCII, as in Java. Lengths are
counted in code points (Java counts UTF-16 units; they differ only beyond the BMP).
"""

from __future__ import annotations

import datetime
import decimal
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, NamedTuple

from segtrain.errors import LaunchError

log = logging.getLogger("segtrain.sagemaker")

#: shapes whose values are never printed in a message (secrets may travel in them)
REDACTED_SHAPES = frozenset({"TrainingEnvironmentValue", "ClientSecret"})
#: how much of a long value a message shows
SHOWN_CHARS = 60
#: how many enum values a message lists
SHOWN_ENUM = 12

# Java's POSIX classes (ASCII-only, as without UNICODE_CHARACTER_CLASS)
_POSIX = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7f",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0b\\f\\r",
}
_PROPERTY = re.compile(r"\\([pP])\{(?:Is)?([A-Za-z]+)\}")
_SURROGATE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)
_ANCHOR_QUANTIFIER = re.compile(r"\{\d+(?:,\d*)?\}")


class Violation(NamedTuple):
    path: str  # e.g. CreateTrainingJob.VpcConfig.Subnets[0]
    message: str  # the whole line, path included


# --------------------------------------------------------------------------------------
# entry points


def validate_request(
    operation: str,
    request: Mapping[str, Any],
    *,
    service: str = "sagemaker",
    hints: Mapping[str, str] | None = None,
) -> None:
    """Raise the first violation of ``request`` as a one-line LaunchError.

    ``hints`` maps a member path below the operation (``"VpcConfig.Subnets"``) to the
    setting a user changes to fix it (``"hydra.launcher.subnets"``); the longest
    matching path is named after the message.
    """
    found = first_violation(operation, request, service=service)
    if found is None:
        return
    relative = found.path.partition(".")[2] if "." in found.path else ""
    setting = _hint_for(relative, hints or {})
    raise LaunchError(found.message + (f" (set by {setting})" if setting else ""))


def first_violation(
    operation: str, request: Mapping[str, Any], *, service: str = "sagemaker"
) -> Violation | None:
    shape = _service_model(service).operation_model(operation).input_shape
    return next(_check(shape, request, operation), None)


@cache
def _service_model(service: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


def _hint_for(path: str, hints: Mapping[str, str]) -> str | None:
    matching = [
        prefix
        for prefix in hints
        if path == prefix or path.startswith((prefix + ".", prefix + "["))
    ]
    return hints[max(matching, key=len)] if matching else None


# --------------------------------------------------------------------------------------
# the walk


def _check(shape: Any, value: Any, label: str) -> Iterator[Violation]:
    """Violations of ``value`` against ``shape``; ``label`` names it in messages."""
    kind = shape.type_name
    expected = _TYPES.get(kind)
    if expected is not None and not _is_type(value, kind, expected):
        yield _violation(
            label, f"{label} is {type(value).__name__} {_show(shape, value)}, expected {kind}"
        )
        return
    if kind == "structure":
        yield from _check_structure(shape, value, label)
    elif kind == "list":
        yield from _check_size(shape, len(value), label, "item")
        for i, item in enumerate(value):
            yield from _check(shape.member, item, f"{label}[{i}]")
    elif kind == "map":
        yield from _check_size(shape, len(value), label, "entry")
        for key, item in value.items():
            yield from _check(shape.key, key, f"{label} key")
            yield from _check(shape.value, item, f"{label}[{key!r}]")
    elif kind == "string":
        yield from _check_string(shape, value, label)
    elif kind in ("integer", "long", "float", "double"):
        yield from _check_range(shape, value, label)
    elif kind == "blob":
        yield from _check_size(shape, len(value), label, "byte")


def _check_structure(shape: Any, value: Mapping[str, Any], label: str) -> Iterator[Violation]:
    members = shape.members
    for name in shape.required_members:
        if value.get(name) is None:
            yield _violation(f"{label}.{name}", f"{label}.{name} is required")
    for name in value:
        if name not in members:
            yield _violation(
                f"{label}.{name}",
                f"{label}.{name} is not a member of {shape.name} "
                f"(expected one of: {', '.join(sorted(members))})",
            )
    if shape.metadata.get("union"):
        given = [name for name in value if value[name] is not None]
        if len(given) != 1:
            yield _violation(
                label,
                f"{label} must set exactly one of {', '.join(members)}; it sets "
                f"{len(given)} ({', '.join(given) or 'none'})",
            )
    for name, item in value.items():
        if name in members and item is not None:
            yield from _check(members[name], item, f"{label}.{name}")


def _check_size(shape: Any, size: int, label: str, unit: str) -> Iterator[Violation]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        yield _violation(label, f"{label} has {size} {unit}(s); at least {low} required")
    elif high is not None and size > high:
        yield _violation(label, f"{label} has {size} {unit}(s); at most {high} allowed")


def _check_string(shape: Any, value: str, label: str) -> Iterator[Violation]:
    shown = _show(shape, value)
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        listed = ", ".join(enum[:SHOWN_ENUM])
        more = f", ... ({len(enum)} in all)" if len(enum) > SHOWN_ENUM else ""
        yield _violation(label, f"{label} {shown} is not one of {listed}{more}")
        return
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        yield _violation(
            label, f"{label} {shown} is {len(value)} characters long; at least {low} required"
        )
    elif high is not None and len(value) > high:
        yield _violation(
            label, f"{label} {shown} is {len(value)} characters long; at most {high} allowed"
        )
    pattern = shape.metadata.get("pattern")
    if pattern is not None:
        compiled = compiled_pattern(pattern)
        if compiled is not None and compiled.fullmatch(value) is None:
            yield _violation(label, f"{label} {shown} does not match {pattern}")


def _check_range(shape: Any, value: float, label: str) -> Iterator[Violation]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        yield _violation(label, f"{label} {value} is below the minimum {low}")
    elif high is not None and value > high:
        yield _violation(label, f"{label} {value} is above the maximum {high}")


_TYPES: dict[str, tuple[type, ...]] = {
    "structure": (Mapping,),
    "map": (Mapping,),
    "list": (list, tuple),
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float, decimal.Decimal),
    "double": (int, float, decimal.Decimal),
    "boolean": (bool,),
    "blob": (bytes, bytearray, str),
    "timestamp": (datetime.datetime, datetime.date, str, int, float),
}


def _is_type(value: Any, kind: str, expected: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and kind != "boolean":
        return False  # bool is an int to Python, never to the service
    return isinstance(value, expected)


def _violation(path: str, message: str) -> Violation:
    # a map key's label is "<path> key"; the violation's path is the map's
    return Violation(path.removesuffix(" key"), message)


def _show(shape: Any, value: Any) -> str:
    if shape.name in REDACTED_SHAPES or shape.metadata.get("sensitive"):
        return "<redacted>"
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return repr(value[: SHOWN_CHARS - 3] + "...")
    return repr(value)


# --------------------------------------------------------------------------------------
# Java patterns -> Python


@cache
def compiled_pattern(pattern: str) -> re.Pattern[str] | None:
    """The model's pattern as a Python regex; None (with a warning) when untranslatable."""
    try:
        return re.compile(python_pattern(pattern), re.ASCII)
    except (re.error, ValueError) as err:
        log.warning("service-model pattern %r is not checked here: %s", pattern, err)
        return None


def python_pattern(pattern: str) -> str:
    """Translate the Java-only constructs of a service-model regex (see module doc)."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if m := _PROPERTY.match(pattern, i):
                ranges = _property_ranges(m.group(2))
                if m.group(1) == "P":
                    if in_class:
                        raise ValueError(f"a negated {m.group(0)} inside [...]")
                    out.append(f"[^{ranges}]")
                else:
                    out.append(ranges if in_class else f"[{ranges}]")
                i = m.end()
            elif m := _SURROGATE_PAIR.match(pattern, i):
                high, low = int(m.group(1), 16), int(m.group(2), 16)
                out.append(f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}")
                i = m.end()
            else:
                out.append(pattern[i : i + 2])
                i += 2
            continue
        out.append(char)
        i += 1
        if char == "[" and not in_class:
            in_class = True
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            if pattern.startswith("]", i):  # a leading ']' is a literal in both dialects
                out.append("\\]")
                i += 1
        elif char == "]" and in_class:
            in_class = False
        elif char == "$" and not in_class and (m := _ANCHOR_QUANTIFIER.match(pattern, i)):
            i = m.end()  # Java accepts "${1,128}": an anchor repeated is the anchor
    return "".join(out)


def _property_ranges(name: str) -> str:
    """The body of a character class for ``\\p{name}``."""
    if name in _POSIX:
        return _POSIX[name]
    runs = [(lo, hi) for lo, hi, cat in _category_runs() if cat == name or cat[0] == name]
    if not runs or len(name) > 2:
        raise ValueError(f"unknown Unicode property \\p{{{name}}}")
    return "".join(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in runs)


@cache
def _category_runs() -> tuple[tuple[int, int, str], ...]:
    """Runs of consecutive code points of one Unicode general category (one pass)."""
    import unicodedata

    runs: list[tuple[int, int, str]] = []
    start, current = 0, unicodedata.category("\x00")
    for cp in range(1, sys.maxunicode + 1):
        cat = unicodedata.category(chr(cp))
        if cat != current:
            runs.append((start, cp - 1, current))
            start, current = cp, cat
    runs.append((start, sys.maxunicode, current))
    return tuple(runs)
