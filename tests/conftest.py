"""Shared helpers: the toolkit's snapshot of an entity's whole world, as a fixture."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pytest

from statuses.testing import changes, snapshot

pytest_plugins = ["pytester"]

world = snapshot
"""The entity, its group, its folder, and every analysis of that folder, field by field."""


def fields_of(entity: object) -> tuple[tuple[str, Any], ...]:
    """Every attrs field of one object, in declaration order (lists copied)."""
    values = []
    for field in attrs.fields(type(entity)):  # type: ignore[misc]
        value = getattr(entity, field.name)
        values.append((field.name, list(value) if isinstance(value, list) else value))
    return tuple(values)


@pytest.fixture
def unchanged() -> Any:
    """``with unchanged(entity): ...`` asserts the block changed nothing of its world."""

    @contextmanager
    def watch(entity: Any) -> Iterator[None]:
        before = snapshot(entity)
        yield
        changed = changes(before, snapshot(entity))
        assert not changed, "a refused event changed " + "; ".join(changed)

    return watch
