"""The ``cohcube`` Typer app and what every verb shares: options, errors, logging."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from cohcube.model.config import ConfigError
from cohcube.model.errors import ModelArtefactError, SlcPairError
from cohcube.pipeline.errors import CohcubeInputError

from .logs import configure_logging

app = typer.Typer(
    name="cohcube",
    help="InSAR coherence cubes from detected Sentinel-1 backscatter.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

#: Errors whose message is the whole story: printed without a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    ModelArtefactError,
    SlcPairError,
    CohcubeInputError,
    FileNotFoundError,
    FileExistsError,
)

Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")]


@app.callback()
def _group() -> None:
    """InSAR coherence cubes from detected Sentinel-1 backscatter."""


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors in ``USER_ERRORS`` into one line on stderr and exit status 2."""
    try:
        yield
    except USER_ERRORS as exc:
        typer.echo(f"cohcube: error: {exc}", err=True)
        raise typer.Exit(2) from None


def command_line() -> str:
    """The command line this process was started with, as a ``cohcube ...`` string."""
    return shlex.join(["cohcube", *sys.argv[1:]])


def setup_logging(verbose: int, quiet: bool) -> None:
    """The project's one logging set-up, at the verbosity the options ask for."""
    configure_logging(-1 if quiet else verbose)
