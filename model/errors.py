"""Errors of the model package that callers catch (importable without torch)."""

from __future__ import annotations


class ModelArtefactError(ValueError):
    """A model file or card that must not be used; the message says why and what to do."""


class SlcPairError(ValueError):
    """An SLC pair that cannot be read; the message names the file."""
