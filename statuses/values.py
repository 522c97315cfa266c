"""The API's plain values (ids and times) checked once, and any value named in a message.

The JSON loaders, the entities' constructors and the store all read ids and
times through the functions here, so a value one of them refuses, all refuse,
with the same words.  Messages name values with :func:`short_repr`, which
takes bounded time and space whatever it is handed: an integer of a million
digits, a list nested ten thousand deep, a string of a gigabyte.
"""

from __future__ import annotations

import datetime
import math
import enum
import operator
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from .errors import InvalidArgument

_T = TypeVar("_T")

EARLIEST = 0.0
"""1970-01-01T00:00:00Z: the API's times are Unix seconds, never before it."""
LATEST = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc).timestamp()
"""9999-12-31T23:59:59Z: the last moment an ISO 8601 string can spell."""

_REPR_LIMIT = 60
_DEPTH = 3
"""How deep :func:`short_repr` looks into nested lists and objects."""
_INT_BITS = 200
"""Integers wider than this are named by their size: their digits would not fit a message anyway."""


class _Full(Exception):
    """Raised inside :func:`short_repr` once the text is long enough."""


class _Clip:
    """Text written piece by piece that stops the writer once it reaches its limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.length = 0

    def write(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)
        if self.length > self.limit:
            raise _Full

    def text(self) -> str:
        joined = "".join(self.parts)
        return joined if len(joined) <= self.limit else joined[: self.limit - 3] + "..."


def short_repr(value: object, limit: int = _REPR_LIMIT) -> str:
    """``repr(value)`` cut to ``limit`` characters, in time and space bounded by ``limit``.

    Containers are walked only as far as the text needs and only
    :data:`_DEPTH` levels deep; huge integers are named by their size.
    """
    clip = _Clip(limit)
    try:
        _write(value, clip, 0)
    except _Full:
        pass
    return clip.text()


def _write(value: Any, clip: _Clip, depth: int) -> None:
    kind = type(value)
    if kind not in _PLAIN:
        if isinstance(value, enum.Enum):
            clip.write(_other_repr(value, clip.limit))
            return
        # A subclass of a JSON type is written as its base: its own __repr__ could take any time.
        kind = next((base for base in _PLAIN if isinstance(value, base)), kind)
    if kind is str:
        head = str.__getitem__(value, slice(0, clip.limit + 1))  # a plain str, bounded
        clip.write(repr(head) if len(head) <= clip.limit else repr(head[: clip.limit])[:-1] + "...")
    elif kind is int:
        clip.write(_int_repr(value))
    elif kind is float or kind is bool or value is None:
        clip.write(repr(kind(value)) if value is not None else "None")
    elif kind in (list, tuple, dict):
        opening, closing = _BRACKETS[kind]
        if depth >= _DEPTH:
            clip.write(f"{opening}...{closing}")
            return
        clip.write(opening)
        for index, item in enumerate(dict.items(value) if kind is dict else value):
            if index:
                clip.write(", ")
            if kind is dict:
                _write(item[0], clip, depth + 1)
                clip.write(": ")
                item = item[1]
            _write(item, clip, depth + 1)
        clip.write(closing)
    else:
        clip.write(_other_repr(value, clip.limit))


_PLAIN = (str, bool, int, float, list, tuple, dict)
_BRACKETS: dict[type, tuple[str, str]] = {list: ("[", "]"), tuple: ("(", ")"), dict: ("{", "}")}


def _int_repr(value: int) -> str:
    bits = value.bit_length()
    if bits <= _INT_BITS:
        return repr(value)
    digits = int(bits * math.log10(2)) + 1
    return f"<{'a negative' if value < 0 else 'an'} integer of about {digits:,} digits>"


def _other_repr(value: object, limit: int) -> str:
    """Any other object: its own repr, which this package does not control, or its type if that fails."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not turn a message into a crash
        return f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class HugeInteger:
    """An integer of a JSON text past Python's limit on converting digits (4,300): kept by its size only.

    :func:`read_json_int` makes them, so that a checker can read any JSON
    document; no id, time or status is ever one.
    """

    __slots__ = ("digits", "negative")

    def __init__(self, digits: int, negative: bool) -> None:
        self.digits = digits
        self.negative = negative

    def __repr__(self) -> str:
        return f"<{'a negative' if self.negative else 'an'} integer of {self.digits:,} digits>"


_INT_DIGITS = 4300
"""Python's default limit: a longer digit string is not converted (it costs time quadratic in its length)."""


def read_json_int(text: str) -> int | HugeInteger:
    """``json.loads(..., parse_int=read_json_int)``: integers as usual, huge ones as a :class:`HugeInteger`."""
    negative = text.startswith("-")
    if len(text) - negative > _INT_DIGITS:
        return HugeInteger(len(text) - negative, negative)
    return int(text)


_KINDS = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}


def describe_value(value: object) -> str:
    """What a JSON value is, for "expected X, got Y": ``an object``, ``a list``, ``int 5``…"""
    kind = _KINDS.get(type(value))
    if isinstance(value, HugeInteger):
        return repr(value)
    return kind if kind is not None else f"{type(value).__name__} {short_repr(value)}"


def check_id(value: object) -> str:
    """``value`` if it is an id (a non-empty string); ``ValueError`` saying what it is otherwise."""
    if type(value) is not str:
        if not isinstance(value, str):
            raise ValueError(f"expected a non-empty string, got {describe_value(value)}")
        value = str.__str__(value)  # a str subclass is stored as the plain string it spells
    if not value:
        raise ValueError("expected a non-empty string")
    return value


def parse_time(value: object) -> float:
    """Unix seconds from a number or an ISO 8601 string; ``ValueError`` saying why not.

    One rule both ways: a time is from 1970-01-01 (:data:`EARLIEST`) to the
    end of 9999 (:data:`LATEST`), so every time this package writes as
    seconds it reads back, and every one could be spelled in ISO 8601.  An
    ISO string without an offset is UTC.
    """
    if value.__class__ is int and 0 <= value <= LATEST:  # the API's usual form, first
        return float(value)
    if type(value) in (int, float):
        seconds = _seconds(value)  # type: ignore[arg-type]
    elif isinstance(value, str):
        seconds = _iso_seconds(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = _seconds(value)
    elif isinstance(value, HugeInteger):
        raise ValueError(f"{value!r} is not a time in Unix seconds")
    else:
        raise ValueError(f"expected Unix seconds or an ISO 8601 string, got {describe_value(value)}")
    if not EARLIEST <= seconds <= LATEST:
        raise ValueError(f"{short_repr(value)} is not between 1970-01-01 and 9999-12-31 "
                         "(times are Unix seconds, never before 1970)")
    return seconds


def _seconds(value: int | float) -> float:
    try:
        seconds = float(value)
    except OverflowError:  # an integer too large for a float
        raise ValueError(f"{short_repr(value)} is not a time in Unix seconds") from None
    if not math.isfinite(seconds):
        raise ValueError(f"{short_repr(value)} is not a time in Unix seconds")
    return seconds


def _iso_seconds(value: str) -> float:
    text = value[:64]  # longer is no ISO 8601 time; do not hand a huge string to the parser
    try:
        if len(value) > 64:
            raise ValueError
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{short_repr(value)} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    try:
        return moment.timestamp()
    except (OverflowError, ValueError):  # a year that an offset pushes past what datetime holds
        raise ValueError(f"{short_repr(value)} is not between 1970-01-01 and 9999-12-31") from None


# The constructors' checks of a field, in the JSON loader's words.

def check_field(owner: str, field: str, check: Callable[[Any], _T], value: object) -> _T:
    """``check(value)``, its ``ValueError`` said again as :class:`InvalidArgument`, naming the class and the field.

    The constructors' words for a bad value, the reason being the JSON
    loader's for the same value: ``Analysis(): analyse_id: expected a
    non-empty string, got int 123``.
    """
    try:
        return check(value)
    except ValueError as error:
        raise InvalidArgument(f"{owner}()", field, str(error)) from None


def check_text(value: object) -> str:
    """``value`` if it is a string (a subclass as the plain string it spells); for a field that may be None."""
    if value.__class__ is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    raise ValueError(f"expected a string or None, got {describe_value(value)}")


def check_extra(modelled: frozenset[str]) -> Callable[[object], dict[str, Any]]:
    """The check of an ``extra`` field: a dict (a JSON object) holding none of the ``modelled`` keys.

    A modelled key there would be written over the field's own value, and
    the document read back would say something else.
    """

    def check(value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValueError(f"expected a dict (a JSON object) or None, got {describe_value(value)}")
        if not modelled.isdisjoint(value):
            shadowed = sorted(key for key in modelled if key in value)
            raise ValueError(f"holds {', '.join(map(repr, shadowed))}, which the entity's own fields are "
                             "written under")
        return value

    return check


def check_spellings(value: object) -> tuple[str, ...]:
    """``value`` as a tuple of strings, from a tuple or a list of them; for a field that may be None."""
    if isinstance(value, (tuple, list)):
        keys = tuple(value)
        if all(key.__class__ is str for key in keys):
            return keys
        if all(isinstance(key, str) for key in keys):
            return tuple(str.__str__(key) for key in keys)
    raise ValueError(f"expected a tuple of strings or None, got {describe_value(value)}")


def read_only(slot: str, name: str, moved_by: str) -> Any:
    """A public field read from its private ``slot`` and refused on assignment, naming what moves it.

    Read through ``operator.attrgetter``, C code with no Python frame: a
    status is read on every event and every record loaded.  Typed ``Any``
    since a class declares the field's type itself, for type checkers.
    """

    def refuse(entity: object, value: object) -> None:
        raise AttributeError(f"{name} cannot be assigned: only {moved_by} move it (a recorded state is restored "
                             f"with restore(), the API's JSON read by statuses.payloads)")

    return property(operator.attrgetter(slot), refuse, None, f"Moved only by {moved_by}; read-only.")


def fields_repr(entity: attrs.AttrsInstance) -> str:
    """``Class(field=value, ...)`` of an attrs entity's shown fields, under their public names (a slot ``_state``
    as ``state``)."""
    shown = ", ".join(f"{field.alias}={getattr(entity, field.name)!r}" for field in attrs.fields(type(entity))
                      if field.repr)
    return f"{type(entity).__name__}({shown})"
