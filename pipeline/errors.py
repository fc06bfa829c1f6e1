"""Errors the pipeline raises for bad input: each message names the input and the fix.

The CLI prints these as one line without a traceback; library users catch
``CohcubeInputError`` (a ``ValueError``).
"""

from __future__ import annotations


class CohcubeInputError(ValueError):
    """Input that cannot be processed; the message says which and what to do."""


class SearchError(CohcubeInputError):
    """A STAC search that cannot run or found nothing usable."""


class EmptySearchError(SearchError):
    """The search ran and matched no scene."""


class CatalogUnreachableError(SearchError):
    """The STAC API or catalog file could not be read."""


class NotAnalysisReadyError(CohcubeInputError):
    """Scenes that are not calibrated backscatter on a map grid (e.g. GCP-only GRD)."""


class GridError(CohcubeInputError):
    """No common output grid: mixed CRSs without a grid, or a region without data."""


class PairingError(CohcubeInputError):
    """Acquisitions that cannot be paired as asked."""


class AssetReadError(CohcubeInputError):
    """An asset could not be read, even after retries."""
