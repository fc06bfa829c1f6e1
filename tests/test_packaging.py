"""The house: install metadata, environment.yml, README commands and CI agree."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_layout_and_import_names() -> None:
    project = _pyproject()
    mapping = project["tool"]["setuptools"]["package-dir"]
    assert mapping == {
        "cohcube.model": "model",
        "cohcube.pipeline": "pipeline",
        "cohcube.flows": "flows",
    }
    for folder in mapping.values():
        assert (ROOT / folder / "__init__.py").is_file()
    assert project["project"]["scripts"]["cohcube"] == "cohcube.flows.cli:main"
    import cohcube.model

    assert Path(cohcube.model.__file__).parent.name == "model"


def test_torch_is_pinned() -> None:
    dependencies = _pyproject()["project"]["dependencies"]
    assert "torch==2.13.0" in dependencies


def test_environment_yml_names_the_same_packages() -> None:
    project = _pyproject()["project"]
    pip_names = {_name(r) for r in project["dependencies"]}
    pip_names |= {_name(r) for r in project["optional-dependencies"]["dev"]}
    # conda-forge spellings of PyPI names; dask[distributed] is two packages there.
    conda_alias = {"torch": "pytorch", "dask-gateway-server": "dask-gateway-server-local"}
    expected = {conda_alias.get(n, n) for n in pip_names} | {"distributed"}
    text = (ROOT / "environment.yml").read_text()
    dependencies = text.split("\ndependencies:\n", 1)[1]
    conda_names = {_name(m) for m in re.findall(r"^  - ([A-Za-z0-9_.-]+)", dependencies, re.M)}
    conda_names -= {"python", "pip"}
    assert conda_names == expected


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    setup = [b.strip() for b in blocks if "python3 -m venv" in b]
    assert len(setup) == 2
    assert "cohcube demo" in setup[0]
    assert "pytest" in setup[1]
    extracted = subprocess.run(
        [str(ROOT / ".ci" / "run"), "--print-command"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert extracted == setup[1]


def test_every_name_the_readme_imports_is_where_it_says() -> None:
    import importlib

    readme = (ROOT / "README.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", readme, flags=re.S))
    imports = re.findall(r"^from (cohcube\.[\w.]+) import ([\w, ]+)$", code, flags=re.M)
    assert len(imports) >= 5
    for module_name, names in imports:
        module = importlib.import_module(module_name)
        for name in (n.strip() for n in names.split(",")):
            assert hasattr(module, name), f"README: {name} is not in {module_name}"


def test_no_module_over_400_lines() -> None:
    for folder in ("model", "pipeline", "flows"):
        for path in (ROOT / folder).rglob("*.py"):
            lines = path.read_text().count("\n")
            assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines"


def test_every_subpackage_is_installed() -> None:
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    mapping = _pyproject()["tool"]["setuptools"]["package-dir"]
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            assert ".".join((name, *parts)) in listed, f"{init.parent} is not in packages"


def test_the_demo_output_stays_out_of_git() -> None:
    # `cohcube demo` writes ./cohcube-demo by default: run from a clone, it must not show up
    # in `git status`.
    demo_help = subprocess.run(
        [str(Path(sys.executable).with_name("cohcube")), "demo", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert "cohcube-demo" in demo_help.stdout
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "cohcube-demo/coherence.zarr/zarr.json"],
        cwd=ROOT,
        check=False,
    )
    assert ignored.returncode == 0
