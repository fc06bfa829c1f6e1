"""Starting and stopping the loopback servers the tests talk to."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    command: Sequence[str],
    ready_url: str,
    timeout_s: float = 30.0,
    env: dict[str, str] | None = None,
    ready_headers: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``command`` (with extra ``env``) and wait until ``ready_url`` answers 200."""
    process = subprocess.Popen(
        list(command),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"{command[0]} exited with {process.returncode}: {err}")
        try:
            request = urllib.request.Request(ready_url, headers=ready_headers or {})
            with urllib.request.urlopen(request, timeout=1) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.1)
    stop_server(process)
    raise RuntimeError(f"{command[0]} did not answer at {ready_url} within {timeout_s} s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop a server by its PID (its whole process group) and reap it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process.stderr:
        process.stderr.close()


def cohcube_command() -> str:
    script = Path(sys.executable).with_name("cohcube")
    found = str(script) if script.exists() else shutil.which("cohcube")
    if found is None:
        raise RuntimeError("the cohcube console script is not installed (pip install -e .)")
    return found


def as_from_a_terminal(command: Sequence[str]) -> list[str]:
    """``command`` started the way a terminal starts it: with SIGINT at its default action.

    A shell's background job (``cmd &``, ``nohup``, some CI runners) starts its children
    with SIGINT ignored, and Python keeps an inherited SIG_IGN: a job launched from there
    rightly ignores Ctrl-C. Tests of what Ctrl-C does need the terminal's disposition.
    """
    reset = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    reset += "os.execvp(sys.argv[1], sys.argv[1:])"
    return [sys.executable, "-c", reset, *command]
