"""How long the ``cohcube`` command takes to answer ``--help`` (and ``--version``).

    python benchmarks/cli_startup.py [--runs 5]

Runs the installed console script in fresh processes and prints the median
wall time of each command, and which heavy modules (torch, dask, xarray,
rasterio) the top-level help imports: verbs import them after parsing, so
help should answer without them. Write the CPU beside the figures.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (
    ("--help",),
    ("--version",),
    ("process", "--help"),
    ("demo", "--help"),
    ("train", "--help"),
)
HEAVY = ("torch", "dask", "xarray", "rasterio", "stackstac", "zarr")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    script = Path(sys.executable).with_name("cohcube")
    command = str(script) if script.exists() else shutil.which("cohcube") or "cohcube"
    for extra in COMMANDS:
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run([command, *extra], capture_output=True, check=True)
            times.append(time.perf_counter() - started)
        print(f"cohcube {' '.join(extra):<16} median {statistics.median(times):.2f} s")
    probe = (
        "import sys; from cohcube.flows.cli import app; "
        "import typer.testing; typer.testing.CliRunner().invoke(app, ['--help']); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(f"heavy modules imported by --help: {loaded or 'none'}")


if __name__ == "__main__":
    main()
