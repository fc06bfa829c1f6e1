"""Running the installed ``cohcube`` console script."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest
from support.processes import cohcube_command


def _run(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [cohcube_command(), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"cohcube {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}"
        )
    return result


@pytest.fixture
def run_cohcube() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_cohcube(*args, check=True, env=None)`` runs the console script, capturing output."""
    return _run
