"""The errors users meet, under one root: ``CohcubeError``.

Every error cohcube raises on purpose -- bad configuration, input data it
cannot use, a model artefact it must not load, a store it must not write --
derives from ``CohcubeError`` and carries a message that names the input and
the fix. The CLI prints these as one line without a traceback, and the
scheduler does not retry them (retrying cannot fix an input); anything else
is a bug or a transient failure. Importable without torch; the pipeline and
the flows define their finer kinds as subclasses of these four.
"""

from __future__ import annotations


class CohcubeError(Exception):
    """An error whose message is the whole story: which input, and what to do."""


class ConfigError(CohcubeError, ValueError):
    """A configuration file or option that cannot be used; the message names file and field."""


class InputDataError(CohcubeError, ValueError):
    """Input data that cannot be processed (scenes, catalogs, pairs, SLC files, paths)."""


class ModelArtefactError(CohcubeError, ValueError):
    """A model file or card that must not be used; the message says why and what to do."""


class StoreError(CohcubeError, ValueError):
    """A store that cannot be written or read as asked."""


class SlcPairError(InputDataError):
    """An SLC pair that cannot be read; the message names the file."""


class MissingPathError(InputDataError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class OccupiedPathError(InputDataError, FileExistsError):
    """An output path that already holds something cohcube will not overwrite."""
