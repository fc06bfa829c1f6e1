"""Configuration files: one loader and one commented template for every config of cohcube.

Training configs (``cohcube train``) and job configs (``cohcube process``)
are pydantic models with ``extra="forbid"`` and a description on every
field. ``load_config_file`` reads YAML (``.yaml``/``.yml``) or TOML
(``.toml``) and reports every problem as one ``ConfigError`` line naming the
file and the dotted field; ``commented_template`` writes the default file
that ``cohcube config`` prints, every field with its description and default.
"""

from __future__ import annotations

import difflib
import textwrap
import tomllib
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticUndefined

from .errors import ConfigError

T = TypeVar("T")


class StrictSection(BaseModel):
    """A config section: unknown keys are errors, values are read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_config_mapping(path: Path) -> dict[str, Any]:
    """The settings of a YAML or TOML file as a mapping (an empty file is ``{}``).

    Raises:
        ConfigError: the file cannot be read, does not parse, or is not a mapping.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    try:
        raw: Any = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "YAML"
        raise ConfigError(f"config {path} is not valid {kind}: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} must be a mapping of settings")
    return raw


def validation_problems(error: ValidationError, model: type[BaseModel] | None = None) -> str:
    """Every problem of a pydantic error as ``field.path: message``, joined by ``; ``.

    With ``model``, an unknown key gets the closest known field name (a typo).
    """
    problems = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        text = f"{where}: {err['msg']}"
        if err["type"] == "extra_forbidden" and model is not None:
            hint = _closest_field(model, [str(p) for p in err["loc"]])
            text += f" (did you mean {hint!r}?)" if hint else ""
        problems.append(text)
    return "; ".join(problems)


def _closest_field(model: type[BaseModel], loc: list[str]) -> str | None:
    """The known field nearest an unknown key at ``loc`` (dotted), or None."""
    for part in loc[:-1]:
        field = model.model_fields.get(part)
        nested = _nested_model(field.annotation) if field is not None else None
        if nested is None:
            return None
        model = nested
    close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1, cutoff=0.6)
    prefix = ".".join(loc[:-1])
    return (f"{prefix}.{close[0]}" if prefix else close[0]) if close else None


def load_config_file(
    path: Path, build: Callable[[dict[str, Any]], T], model: type[BaseModel] | None = None
) -> T:
    """Read ``path`` and build the config from its mapping with ``build``.

    Args:
        path: YAML or TOML file.
        build: e.g. ``TrainingConfig.model_validate``; its ``ValidationError``
            becomes one ``ConfigError`` line.
        model: the config class, for "did you mean" hints on unknown keys.
    """
    raw = read_config_mapping(path)
    try:
        return build(raw)
    except ValidationError as exc:
        raise ConfigError(f"config {path}: {validation_problems(exc, model)}") from None


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds (also inside ``X | None``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(annotation) if _nested_model(a) is not None]
        return _nested_model(models[0]) if len(models) == 1 else None
    return None


def _yaml_value(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if isinstance(value, Path):
        value = str(value)
    text = yaml.safe_dump(value, default_flow_style=True).strip()
    return text.removesuffix("\n...").removesuffix(" ...").strip()


def _template_lines(model: type[BaseModel], placeholders: dict[str, str], prefix: str) -> list[str]:
    indent = "  " * prefix.count(".")
    lines: list[str] = []
    for name, info in model.model_fields.items():
        dotted = f"{prefix}{name}"
        for line in textwrap.wrap(info.description or "", width=88 - len(indent)):
            lines.append(f"{indent}# {line}")
        nested = _nested_model(info.annotation)
        if nested is not None and info.default is None and dotted not in placeholders:
            # An optional section, off by default: its fields shown commented out.
            lines.append(f"{indent}{name}: null  # or:")
            sub = _template_lines(nested, placeholders, f"{dotted}.")
            lines += [
                f"{indent}#   {line.strip()}" for line in sub if not line.strip().startswith("#")
            ]
            continue
        if nested is not None and dotted not in placeholders:
            lines.append(f"{indent}{name}:")
            lines += _template_lines(nested, placeholders, f"{dotted}.")
            continue
        if dotted in placeholders:
            lines.append(f"{indent}{name}: {placeholders[dotted]}  # required: set this")
            continue
        if info.default is PydanticUndefined and info.default_factory is None:
            lines.append(f"{indent}{name}:  # required")
            continue
        default = info.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            default = default.model_dump(mode="json")
        lines.append(f"{indent}{name}: {_yaml_value(default)}")
    return lines


def commented_template(
    model: type[BaseModel], title: str, placeholders: dict[str, str] | None = None
) -> str:
    """A YAML file of ``model``'s defaults, each field preceded by its description.

    Args:
        model: the config model (sections are nested models).
        title: first comment line (what the file is, how to run it).
        placeholders: example values for required fields, by dotted name
            (e.g. ``{"output.store": "cube.zarr"}``).
    """
    header = [f"# {line}" if line else "#" for line in title.splitlines()]
    body = _template_lines(model, placeholders or {}, "")
    return "\n".join([*header, "", *body]) + "\n"
