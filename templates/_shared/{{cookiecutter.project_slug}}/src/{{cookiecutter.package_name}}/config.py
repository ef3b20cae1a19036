"""Configuration: `configs/default.yaml` holds every knob and its default; the command line
overrides any of them.

    python -m {{ cookiecutter.package_name }}.train --config configs/debug.yaml optim.lr=3e-4

`--config FILE` is merged over the defaults, then each `key=value` (the value parsed as YAML) is
applied. The pydantic models below are the schema: the type and range of every key. An unknown
key, a value of the wrong type or out of range is a `ConfigError`, one line naming the key.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
{%- if cookiecutter.task != "tabular" %}
    model_validator,
{%- endif %}
)

from {{ cookiecutter.package_name }}.errors import ConfigError
from {{ cookiecutter.package_name }}.quiet import add_verbose_argument

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"


def _number_as_text(value: Any) -> Any:
    """`run.name=2` names a run "2"."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# The value types; a config error says what the key takes in the words of its description.
Count = Annotated[int, Field(ge=1, description="an integer >= 1")]
NonNegativeInt = Annotated[int, Field(ge=0, description="an integer >= 0")]
Seed = Annotated[int, Field(ge=0, lt=2**32, description="an integer from 0 to 4294967295")]
PositiveNumber = Annotated[
    float, Field(gt=0, allow_inf_nan=False, description="a positive finite number")
]
NonNegativeNumber = Annotated[
    float, Field(ge=0, allow_inf_nan=False, description="a finite number >= 0")
]
Fraction = Annotated[float, Field(ge=0, le=1, description="a number from 0 to 1")]
Dropout = Annotated[float, Field(ge=0, lt=1, description="a number >= 0 and < 1")]
Widths = Annotated[
    list[Annotated[int, Field(ge=1)]],
    Field(min_length=1, description="a non-empty list of integers >= 1, e.g. [64, 32]"),
]
Text = Annotated[str, BeforeValidator(_number_as_text), Field(min_length=1, description="text")]


def _steps_or_epochs(value: int) -> int:
    if value != -1 and value < 1:
        raise ValueError("neither -1 nor positive")
    return value


StopSignal = Literal["SIGTERM", "SIGUSR1", "SIGUSR2", "SIGHUP", "SIGINT"]
StepLimit = Annotated[
    int,
    AfterValidator(_steps_or_epochs),
    Field(description="-1 (run trainer.max_epochs) or an integer >= 1"),
]
Name = Annotated[
    str,
    BeforeValidator(_number_as_text),
    Field(pattern=r"^[^/\\]+$", description="a folder name (no / or \\)"),
]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)


class RunConfig(Section):
    name: Name
    dir: Text
    reconfigure: bool


class DataConfig(Section):
    path: Text
    batch_size: Count
    num_workers: NonNegativeInt
{%- if cookiecutter.task == "image" %}
    image_size: Annotated[int, Field(ge=1, description="an integer >= 1")]
    augment: bool
{%- elif cookiecutter.task == "text" %}
    max_length: Count
    vocab_size: Annotated[int, Field(ge=4, description="an integer >= 4")]
    lowercase: bool
{%- else %}
    target: Text
    objective: Literal["classification", "regression"] | None = Field(
        description="classification, regression or null"
    )
{%- endif %}


class ModelConfig(Section):
{%- if cookiecutter.task != "tabular" %}
{%- if cookiecutter._framework == "tensorflow" %}
    backbone: Literal["default", "keras_hub"]
{%- else %}
    backbone: Literal["default", "transformers"]
{%- endif %}
    pretrained: Text | None = Field(description="a model name, a folder or null")
    freeze_epochs: NonNegativeInt
{%- endif %}
{%- if cookiecutter.task == "image" %}
    widths: Widths
    blocks_per_stage: Count
    dropout: Dropout
{%- elif cookiecutter.task == "text" %}
    dim: Count
    heads: Count
    layers: Count
    mlp_dim: Count
    dropout: Dropout

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> ModelConfig:
        if self.dim % self.heads:
            raise ValueError(
                f"config key model.heads must divide model.dim ({self.dim}), got {self.heads}"
            )
        return self
{%- endif %}
{%- if cookiecutter.task != "tabular" %}

    @model_validator(mode="after")
    def _pretrained_with_backbone(self) -> ModelConfig:
        if self.backbone == "default" and self.pretrained is not None:
            raise ValueError(
                "config key model.pretrained needs a pretrained model.backbone"
                f" (model.backbone is {self.backbone}; see the README's pretrained section)"
            )
        if self.backbone != "default" and self.pretrained is None:
            raise ValueError(
                "config key model.pretrained must name the weights of"
                f" model.backbone={self.backbone} (a published model name or a local folder)"
            )
        return self
{%- else %}
    hidden: Widths
    embedding_dim: Count
    dropout: Dropout
{%- endif %}


class OptimConfig(Section):
    name: Literal["adamw", "sgd"]
    lr: PositiveNumber
    weight_decay: NonNegativeNumber
    warmup_fraction: Fraction
    warmup_steps: NonNegativeInt
    grad_clip: NonNegativeNumber
{%- if cookiecutter.task != "tabular" %}
    backbone_lr_scale: Annotated[float, Field(gt=0, le=1, description="a number > 0 and <= 1")]
{%- endif %}


class TrainerConfig(Section):
    max_epochs: Count
    max_steps: StepLimit
{%- if cookiecutter._framework == "jax" %}
    precision: Literal["fp32", "bf16"] = Field(
        description="fp32 or bf16 (fp16 would need loss scaling; bf16 has float32's range)"
    )
{%- else %}
    precision: Literal["fp32", "bf16", "fp16"]
{%- endif %}
    compile: bool
    devices: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        description="auto or an integer >= 1"
    )
    checkpoint_every: Count
    checkpoint_every_minutes: NonNegativeNumber
    keep_checkpoints: Count
    stop_signals: list[StopSignal] = Field(
        description="a list of signal names from SIGTERM, SIGUSR1, SIGUSR2, SIGHUP, SIGINT"
    )
    stop_check_every: Count
{%- if cookiecutter._framework == "pytorch" %}
    strategy: Literal["ddp", "fsdp"]
{%- elif cookiecutter._framework == "tensorflow" %}
    steps_per_execution: Count
{%- elif cookiecutter._framework == "jax" %}
    mesh_model: Count
    compilation_cache: Text | None = Field(description="a folder or null")
{%- endif %}


class LogConfig(Section):
    every: Count
    tensorboard: bool
    report: bool
    mlflow: bool
    mlflow_uri: Text | None = Field(description="an MLflow server URL or null")


class Config(Section):
    seed: Seed
    run: RunConfig
    data: DataConfig
    model: ModelConfig
    optim: OptimConfig
    trainer: TrainerConfig
    log: LogConfig


def load_config(config_file: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """The defaults, merged with `config_file` if given, then `key=value` overrides."""
    values = read_yaml(DEFAULT_CONFIG)
    if config_file is not None:
        _merge(values, read_yaml(Path(config_file)))
    for override in overrides:
        _set(values, *_parse_override(override))
    try:
        return Config.model_validate(values)
    except ValidationError as error:
        raise _config_error(error, values) from None


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML file merged over configs/default.yaml")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="override a config value: optim.lr=1e-3"
    )
    add_verbose_argument(parser)


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.config, args.overrides)


def to_dict(config: Config) -> dict[str, Any]:
    return config.model_dump()


def save_config(config: Config, path: Path) -> None:
    """Written whole or not at all: other processes of the run may be reading it."""
    partial = path.with_name(f"{path.name}.partial")
    partial.write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
    partial.replace(path)


class _Loader(yaml.SafeLoader):
    """YAML as people write configs: `3e-4` is a number (YAML 1.1 reads it as text)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


def read_yaml(path: Path) -> dict[str, Any]:
    """A config file's mapping; a `ConfigError` if it cannot be read or is not a mapping."""
    try:
        values = _parse_yaml(path.read_text())
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or "cannot be parsed"
        raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values")
    return values


def _parse_override(override: str) -> tuple[str, Any]:
    key, sep, raw = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {override!r} is not of the form key=value")
    try:
        return key, _parse_yaml(raw)
    except yaml.YAMLError:
        return key, raw


def _merge(base: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(base.get(key), dict) and isinstance(value, dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _set(values: dict[str, Any], dotted_key: str, value: Any) -> None:
    *parents, leaf = dotted_key.split(".")
    node = values
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"unknown config key {dotted_key}{_did_you_mean(dotted_key)}")
    node[leaf] = value


def _config_error(error: ValidationError, values: dict[str, Any]) -> ConfigError:
    """The first problem pydantic found, in one line that names the key."""
    problems: dict[str, str] = {}
    for details in error.errors():
        key, message = _problem(details, values)
        problems.setdefault(key, message)
    first, *others = problems.values()
    more = f" (and {len(others)} more problem{'s' * (len(others) > 1)})" if others else ""
    return ConfigError(first + more)


def _problem(details: Any, values: dict[str, Any]) -> tuple[str, str]:
    path = [part for part in details["loc"] if isinstance(part, str)]
    schema: Any = Config
    field = None
    parts: list[str] = []
    for part in path:
        fields = getattr(schema, "model_fields", {})
        if part not in fields:
            break
        field, schema = fields[part], fields[part].annotation
        parts.append(part)
    key = ".".join(parts)
    if details["type"] == "extra_forbidden":
        key = _first_leaf(".".join(path), details["input"])
        return key, f"unknown config key {key}{_did_you_mean(key)}"
    if details["type"] == "missing":
        return key, f"missing config key {key}"
    if details["type"] == "value_error" and not _is_leaf(field):
        return key, str(details["ctx"]["error"])  # a check across the keys of a section
    return key, f"config key {key} must be {_expected(field)}, got {show(_lookup(values, parts))}"


def _is_leaf(field: Any) -> bool:
    return field is not None and not _is_section(field.annotation)


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _expected(field: Any) -> str:
    if field.description:
        return field.description
    if _is_section(field.annotation):
        return "a mapping of keys to values"
    if field.annotation is bool:
        return "true or false"
    if typing.get_origin(field.annotation) is Literal:
        *others, last = typing.get_args(field.annotation)
        return f"{', '.join(others)} or {last}" if others else str(last)
    return str(field.annotation)


def _lookup(values: Any, parts: list[str]) -> Any:
    for part in parts:
        values = values.get(part) if isinstance(values, dict) else None
    return values


def show(value: Any) -> str:
    """A value as it is written in YAML (and JSON): 0.001, "adamw", true, null, [8, 16], .nan."""
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else f"{'-' * (value < 0)}.inf"
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _first_leaf(key: str, value: Any) -> str:
    while isinstance(value, dict) and len(value) == 1:
        [(child, value)] = value.items()
        key = f"{key}.{child}"
    return key


def _known_keys(schema: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    keys = []
    for name, field in schema.model_fields.items():
        if _is_section(field.annotation):
            keys += _known_keys(field.annotation, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def _did_you_mean(key: str) -> str:
    known = _known_keys()
    leaf = key.rsplit(".", 1)[-1]
    matches = difflib.get_close_matches(key, known, n=1, cutoff=0.75) or [
        full
        for close in difflib.get_close_matches(leaf, [k.rsplit(".", 1)[-1] for k in known], n=1)
        for full in known
        if full.rsplit(".", 1)[-1] == close
    ]
    return f"; did you mean {matches[0]}?" if matches else ""
