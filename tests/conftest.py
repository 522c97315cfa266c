"""Shared helpers: the toolkit's snapshot of an entity's whole world, as a fixture."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pytest

from statuses.testing import changes, snapshot
from statuses.testing.assertions import fields_of  # noqa: F401  (tests import it from here)

pytest_plugins = ["pytester"]

world = snapshot
"""The entity, its group, its folder, and every analysis of that folder, field by field."""


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


def force(entity: Any, **fields: Any) -> None:
    """Set fields the machines alone may move, as a service that bypasses them would: for planting faults.

    Written to the slots behind the read-only public fields (``state`` is kept in ``_state``).
    """
    for name, value in fields.items():
        slot = next(field.name for field in attrs.fields(type(entity)) if field.alias == name)
        object.__setattr__(entity, slot, value)
