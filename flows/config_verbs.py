"""``cohcube config process|train``: write a commented default configuration file.

Every field appears with its description and default, so a new job starts
from a file that documents itself (the model is dolphin's ``config`` verb).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli_app import user_errors

config_app = typer.Typer(
    name="config",
    help="Write a commented default configuration file (stdout, or OUT).",
    no_args_is_help=True,
)

Out = Annotated[
    Path | None,
    typer.Argument(
        metavar="FILE", help="File to write (default: print to stdout).", show_default=False
    ),
]


def _emit(text: str, out: Path | None) -> None:
    from cohcube.model.errors import OccupiedPathError

    if out is None:
        typer.echo(text, nl=False)
        return
    with user_errors():
        if out.exists():
            raise OccupiedPathError(f"{out} exists; choose a new file name (refusing to overwrite)")
        out.write_text(text)
    typer.echo(f"wrote {out}", err=True)


@config_app.command("process")
def process_config(out: Out = None) -> None:
    """The regional job's config (`cohcube process`): set region and output.store."""
    from .job_config import process_config_template

    _emit(process_config_template(), out)


@config_app.command("train")
def training_config(out: Out = None) -> None:
    """The training config (`cohcube train`)."""
    from cohcube.model.learning.config import training_config_template

    _emit(training_config_template(), out)
