"""Checks run on every declared model when its class is created."""

from __future__ import annotations


class ModelError(ValueError):
    """A model declaration that sbidic cannot use; the message names the problem."""


def validate(cls) -> None:
    """Placeholder until the checks land."""
