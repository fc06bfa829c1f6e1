"""The one logging set-up of cohcube: everything under the ``cohcube`` logger, to stderr."""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "cohcube"


def configure_logging(verbosity: int = 0) -> logging.Logger:
    """Route the ``cohcube`` logger to stderr.

    Args:
        verbosity: -1 quiet (warnings), 0 info, 1 or more debug.
    """
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    if not any(getattr(h, "_cohcube", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._cohcube = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False
    return logger
