"""Shared helpers: looking at an entity's whole world before and after a call."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from statuses import Analysis, Folder, Group


def fields_of(entity: object) -> tuple[tuple[str, Any], ...]:
    """Every attrs field of ``entity``, shallowly (lists copied)."""
    values = []
    for field in attrs.fields(type(entity)):
        value = getattr(entity, field.name)
        values.append((field.name, list(value) if isinstance(value, list) else value))
    return tuple(values)


def world(entity: Analysis | Group | Folder) -> tuple[Any, ...]:
    """The entity, its group, its folder, and every analysis of that folder."""
    if isinstance(entity, Analysis):
        group = entity.group
        folder = group.folder if group is not None else None
        parts: list[object] = [entity] + ([group] if group is not None else [])
    elif isinstance(entity, Group):
        folder, parts = entity.folder, [entity]
    else:
        folder, parts = entity, []
    if folder is not None:
        parts.append(folder)
        for group in folder.groups:
            parts.append(group)
            parts.extend(group.analyses)
    return tuple(fields_of(part) for part in parts)


@pytest.fixture
def unchanged():
    """``with unchanged(entity): ...`` asserts the block changed nothing of its world."""
    from contextlib import contextmanager

    @contextmanager
    def watch(entity: Analysis | Group | Folder):
        before = world(entity)
        yield
        assert world(entity) == before, "a refused event changed something"

    return watch
