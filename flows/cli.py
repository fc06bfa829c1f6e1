"""The ``cohcube`` command line: a thin dispatcher over the verbs, grouped by what they touch.

- jobs (``job_verbs``): demo, process, plan, status, batch-script, changes, schedule;
- data (``data_verbs``): search, pairs, sample-catalog;
- models (``model_verbs``): train, export, evaluate, calibrate, import-keras, models;
- devices (``device_verbs``): calibrate-device, tune-bf16;
- ``config process|train`` (``config_verbs``): commented default configs.

The app, the shared options, the one-line errors and logging are in ``cli_app``.
"""

from __future__ import annotations

from .cli_app import app
from .config_verbs import config_app
from .data_verbs import pairs, sample_catalog, search
from .device_verbs import calibrate_device, tune_bf16
from .job_verbs import batch_script, changes, demo, plan, process, schedule_job, status
from .model_verbs import (
    calibrate,
    evaluate,
    export,
    import_keras,
    models,
    train,
)

__all__ = ["app", "main"]

app.command()(demo)
app.command()(process)
app.command()(plan)
app.command()(status)
app.command("batch-script")(batch_script)
app.command()(changes)
app.command("schedule")(schedule_job)
for verb in (train, export, evaluate, calibrate):
    app.command()(verb)
app.command("calibrate-device")(calibrate_device)
app.command("tune-bf16")(tune_bf16)
app.command("import-keras")(import_keras)
app.command()(models)
app.command("sample-catalog")(sample_catalog)
app.command()(search)
app.command()(pairs)
app.add_typer(config_app)


def main() -> None:
    """Console-script entry point."""
    app()
