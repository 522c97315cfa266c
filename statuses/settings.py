"""Per-customer configuration that the machines' guards consult."""

from __future__ import annotations

from typing import Any

import attrs

from .errors import InvalidArgument
from .values import short_repr


@attrs.frozen
class Settings:
    """The switches of a customer's configuration that change the lifecycle."""

    operator_required: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    """Whether analyses may end in OPERATOR_REQUIRED ("biometry settings")."""


DEFAULT_SETTINGS = Settings()
"""Shared by every entity made without settings, so they cost no memory each."""


def check_settings(entity: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """The validator of an entity's ``settings``: a :class:`Settings`, or :class:`InvalidArgument` (a ``TypeError`` too) in the constructors' words."""
    if not isinstance(value, Settings):
        raise InvalidArgument(f"{entity.__class__.__name__}()", attribute.name, f"expected a Settings, "
                              f"got {value.__class__.__name__} {short_repr(value)}")
