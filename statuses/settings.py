"""Per-customer configuration that the machines' guards consult."""

from __future__ import annotations

import attrs


@attrs.frozen
class Settings:
    """The switches of a customer's configuration that change the lifecycle."""

    operator_required: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    """Whether analyses may end in OPERATOR_REQUIRED ("biometry settings")."""


DEFAULT_SETTINGS = Settings()
"""Shared by every entity made without settings, so they cost no memory each."""
