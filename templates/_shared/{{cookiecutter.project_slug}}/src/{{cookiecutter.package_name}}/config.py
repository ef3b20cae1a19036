"""Configuration: `configs/default.yaml` holds every knob, the command line overrides any of them.

    python -m {{ cookiecutter.package_name }}.train --config configs/debug.yaml optim.lr=3e-4 trainer.max_steps=200

`--config FILE` is merged over the defaults, then each `key=value` (the value parsed as YAML) is
applied. The dataclasses below are the schema: an unknown key, a missing key or a value of the
wrong type is a `ConfigError` that names the key.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from {{ cookiecutter.package_name }}.errors import ConfigError

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"


@dataclasses.dataclass
class RunConfig:
    name: str
    dir: str
    reconfigure: bool


@dataclasses.dataclass
class DataConfig:
    path: str
    batch_size: int
    num_workers: int
{%- if cookiecutter.task == "image" %}
    image_size: int
    augment: bool
{%- elif cookiecutter.task == "text" %}
    max_length: int
    vocab_size: int
    lowercase: bool
{%- else %}
    target: str
    objective: Literal["classification", "regression"] | None
{%- endif %}


@dataclasses.dataclass
class ModelConfig:
{%- if cookiecutter.task == "image" %}
    widths: list[int]
    blocks_per_stage: int
    dropout: float
{%- elif cookiecutter.task == "text" %}
    dim: int
    heads: int
    layers: int
    mlp_dim: int
    dropout: float
{%- else %}
    hidden: list[int]
    embedding_dim: int
    dropout: float
{%- endif %}


@dataclasses.dataclass
class OptimConfig:
    name: Literal["adamw", "sgd"]
    lr: float
    weight_decay: float
    warmup_fraction: float
    warmup_steps: int
    grad_clip: float


@dataclasses.dataclass
class TrainerConfig:
    max_epochs: int
    max_steps: int
    precision: Literal["fp32", "bf16", "fp16"]
    compile: bool
    devices: int | Literal["auto"]
    checkpoint_every: int
    keep_checkpoints: int
{%- if cookiecutter._framework == "pytorch" %}
    strategy: Literal["ddp", "fsdp"]
{%- elif cookiecutter._framework == "tensorflow" %}
    steps_per_execution: int
{%- elif cookiecutter._framework == "jax" %}
    mesh_model: int
    compilation_cache: str | None
{%- endif %}


@dataclasses.dataclass
class LogConfig:
    every: int
    tensorboard: bool


@dataclasses.dataclass
class Config:
    seed: int
    run: RunConfig
    data: DataConfig
    model: ModelConfig
    optim: OptimConfig
    trainer: TrainerConfig
    log: LogConfig


def load_config(config_file: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """The defaults, merged with `config_file` if given, then `key=value` overrides."""
    values = _read_yaml(DEFAULT_CONFIG)
    if config_file is not None:
        _merge(values, _read_yaml(Path(config_file)), prefix="")
    for override in overrides:
        key, value = _parse_override(override)
        _set(values, key, value)
    return _build(Config, values, prefix="")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML file merged over configs/default.yaml")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="override a config value: optim.lr=1e-3"
    )


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.config, args.overrides)


def to_dict(config: Config) -> dict[str, Any]:
    return dataclasses.asdict(config)


def save_config(config: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(to_dict(config), sort_keys=False))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        values = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values")
    return values


def _parse_override(override: str) -> tuple[str, Any]:
    key, sep, raw = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {override!r} is not of the form key=value")
    try:
        return key, yaml.safe_load(raw)
    except yaml.YAMLError:
        return key, raw


def _merge(base: dict[str, Any], update: dict[str, Any], prefix: str) -> None:
    for key, value in update.items():
        if key not in base:
            raise ConfigError(f"unknown config key {prefix}{key}")
        if isinstance(base[key], dict) and isinstance(value, dict):
            _merge(base[key], value, prefix=f"{prefix}{key}.")
        else:
            base[key] = value


def _set(values: dict[str, Any], dotted_key: str, value: Any) -> None:
    *parents, leaf = dotted_key.split(".")
    node = values
    for depth, part in enumerate(parents):
        node = node.get(part)
        if not isinstance(node, dict):
            raise ConfigError(f"unknown config key {'.'.join(parents[: depth + 1])}")
    if leaf not in node:
        raise ConfigError(f"unknown config key {dotted_key}")
    node[leaf] = value


def _build(cls: type, values: Any, prefix: str) -> Any:
    name = prefix.rstrip(".") or "the config"
    if not isinstance(values, dict):
        raise ConfigError(f"{name} must be a mapping, got {values!r}")
    fields = {field.name for field in dataclasses.fields(cls)}
    if unknown := sorted(set(values) - fields):
        raise ConfigError(f"unknown config key {prefix}{unknown[0]}")
    if missing := sorted(fields - set(values)):
        raise ConfigError(f"missing config key {prefix}{missing[0]}")
    hints = typing.get_type_hints(cls)
    return cls(**{key: _coerce(hints[key], values[key], f"{prefix}{key}") for key in fields})


def _coerce(annotation: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, prefix=f"{key}.")
    origin = typing.get_origin(annotation)
    if origin is Literal:
        if value in typing.get_args(annotation):
            return value
        raise _type_error(key, value, " or ".join(map(repr, typing.get_args(annotation))))
    if origin in (Union, types.UnionType):
        if value is None and type(None) in typing.get_args(annotation):
            return None
        for option in typing.get_args(annotation):
            try:
                return _coerce(option, value, key)
            except ConfigError:
                continue
        raise _type_error(key, value, _describe(annotation))
    if origin is list:
        if not isinstance(value, list):
            raise _type_error(key, value, _describe(annotation))
        (item,) = typing.get_args(annotation)
        return [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    return _coerce_scalar(annotation, value, key)


def _coerce_scalar(annotation: type, value: Any, key: str) -> Any:
    if annotation is float and isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads 3e-4 as a string
        except ValueError:
            pass
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, annotation) and not (annotation is int and isinstance(value, bool)):
        return value
    raise _type_error(key, value, annotation.__name__)


def _describe(annotation: Any) -> str:
    return str(annotation).replace("typing.", "")


def _type_error(key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"config key {key} must be {expected}, got {value!r}")
