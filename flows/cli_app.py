"""The ``cohcube`` Typer app and what every verb shares: options, errors, logging."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from cohcube.model.errors import CohcubeError

from .logs import configure_logging

app = typer.Typer(
    name="cohcube",
    help="InSAR coherence cubes from detected Sentinel-1 backscatter.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


Verbose = Annotated[
    int,
    typer.Option(
        "--verbose",
        "-v",
        count=True,
        metavar="",
        show_default=False,
        help="More log output (-vv: debug).",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")]


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"cohcube {version('cohcube')}")
        raise typer.Exit()


@app.callback()
def _group(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """InSAR coherence cubes from detected Sentinel-1 backscatter."""


#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


@contextmanager
def user_errors(resume_hint: str | None = None) -> Iterator[None]:
    """Turn a ``CohcubeError`` (its message is the whole story) into one line and exit status 2;
    Ctrl-C into one line (with ``resume_hint``) and exit status 130."""
    try:
        yield
    except CohcubeError as exc:
        typer.echo(f"cohcube: error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        hint = f"; {resume_hint}" if resume_hint else ""
        typer.echo(f"cohcube: interrupted{hint}", err=True)
        raise typer.Exit(INTERRUPTED) from None


def command_line() -> str:
    """The command line this process was started with, as a ``cohcube ...`` string."""
    return shlex.join(["cohcube", *sys.argv[1:]])


def setup_logging(verbose: int, quiet: bool) -> None:
    """The project's one logging set-up, at the verbosity the options ask for."""
    configure_logging(-1 if quiet else verbose)
