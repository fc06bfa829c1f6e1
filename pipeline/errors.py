"""The pipeline's kinds of input error, all ``cohcube.model.errors.InputDataError``.

Each message names the input and the fix; the CLI prints them as one line
without a traceback, library users catch ``InputDataError`` (a ``ValueError``)
or the root ``CohcubeError``.
"""

from __future__ import annotations

from cohcube.model.errors import InputDataError


class SearchError(InputDataError):
    """A STAC search that cannot run or found nothing usable."""


class EmptySearchError(SearchError):
    """The search ran and matched no scene."""


class CatalogUnreachableError(SearchError):
    """The STAC API or catalog file could not be read."""


class NotAnalysisReadyError(InputDataError):
    """Scenes that are not calibrated backscatter on a map grid (e.g. GCP-only GRD)."""


class GridError(InputDataError):
    """No common output grid: mixed CRSs without a grid, or a region without data."""


class PairingError(InputDataError):
    """Acquisitions that cannot be paired as asked."""


class AssetReadError(InputDataError):
    """An asset could not be read, even after retries."""


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type's name when it has none): what a
    one-line error quotes of a library's exception."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
