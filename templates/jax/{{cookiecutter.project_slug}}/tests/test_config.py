from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.config import load_config
from {{ cookiecutter.package_name }}.errors import ConfigError
from {{ cookiecutter.package_name }}.runs import Run


def test_defaults_load_and_overrides_apply() -> None:
    config = load_config(overrides=["optim.lr=3e-4", "trainer.max_steps=7", "seed=3"])
    assert config.optim.lr == pytest.approx(3e-4)
    assert config.trainer.max_steps == 7
    assert config.seed == 3


def test_config_file_is_merged_over_defaults(tmp_path: Path) -> None:
    preset = tmp_path / "preset.yaml"
    preset.write_text("trainer:\n  max_epochs: 2\noptim:\n  lr: 5e-4\n")
    config = load_config(preset, ["trainer.max_steps=5"])
    assert (config.trainer.max_epochs, config.trainer.max_steps) == (2, 5)
    assert config.optim.lr == pytest.approx(5e-4)  # a number, though YAML 1.1 reads text
    assert config.optim.name == load_config().optim.name


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lr=-1", "config key optim.lr must be a positive finite number, got -1"),
        ("optim.lr=.nan", "config key optim.lr must be a positive finite number, got .nan"),
        ("optim.lr=.inf", "config key optim.lr must be a positive finite number, got .inf"),
        ("data.batch_size=0", "config key data.batch_size must be an integer >= 1, got 0"),
        ("data.num_workers=-1", "config key data.num_workers must be an integer >= 0"),
        ("trainer.max_steps=0", "config key trainer.max_steps must be -1"),
        ("trainer.max_steps=-2", "config key trainer.max_steps must be -1"),
        ("trainer.max_steps=many", "config key trainer.max_steps must be -1"),
        ("trainer.devices=0", "config key trainer.devices must be auto or an integer >= 1"),
        ("trainer.precision=fp8", "config key trainer.precision must be fp32"),
        ("log.tensorboard=maybe", "config key log.tensorboard must be true or false"),
        ("log.every=0", "config key log.every must be an integer >= 1"),
        ("model.dropout=1", "config key model.dropout must be a number >= 0 and < 1"),
        ("optim.warmup_fraction=2", "config key optim.warmup_fraction must be a number from 0"),
        ("optim.lrr=0.1", "unknown config key optim.lrr; did you mean optim.lr?"),
        ("lr=0.1", "unknown config key lr; did you mean optim.lr?"),
        ("nothing.here=1", "unknown config key nothing.here"),
        ("optim=1", "config key optim must be a mapping of keys to values, got 1"),
{%- if cookiecutter.task == "text" %}
        ("data.max_length=-5", "config key data.max_length must be an integer >= 1, got -5"),
        ("model.heads=3", "config key model.heads must divide model.dim (128), got 3"),
{%- elif cookiecutter.task == "image" %}
        ("model.widths=[]", "config key model.widths must be a non-empty list of integers"),
        ("model.widths=[8,0]", "config key model.widths must be a non-empty list of integers"),
{%- else %}
        ("model.hidden=[]", "config key model.hidden must be a non-empty list of integers"),
        ("data.objective=ranking", "config key data.objective must be classification"),
{%- endif %}
    ],
)
def test_bad_value_is_one_line_naming_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(overrides=[override])
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_several_problems_report_the_first_and_count_the_others() -> None:
    with pytest.raises(ConfigError) as error:
        load_config(overrides=["data.batch_size=0", "optim.lr=-1", "log.every=0"])
    assert str(error.value) == (
        "config key data.batch_size must be an integer >= 1, got 0 (and 2 more problems)"
    )


def test_unknown_key_in_config_file_is_refused(tmp_path: Path) -> None:
    preset = tmp_path / "preset.yaml"
    preset.write_text("optim:\n  momentum: 0.9\n")
    with pytest.raises(ConfigError, match=r"unknown config key optim\.momentum"):
        load_config(preset)


def test_invalid_yaml_is_one_line_with_its_place(tmp_path: Path) -> None:
    preset = tmp_path / "preset.yaml"
    preset.write_text("optim:\n  lr: [1e-3\n")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line 3, column 1\)") as error:
        load_config(preset)
    assert "\n" not in str(error.value)


def started_run(tmp_path: Path, *overrides: str) -> Run:
    """A run that got as far as its first checkpoint (a file in checkpoints/ is what counts)."""
    config = load_config(overrides=[f"run.dir={tmp_path}", *overrides])
    run = Run.of(config)
    run.prepare(config)
    (run.checkpoints / "1").write_text("")
    return run


def test_a_run_that_never_reached_a_checkpoint_takes_a_changed_config(tmp_path: Path) -> None:
    config = load_config(overrides=[f"run.dir={tmp_path}"])
    run = Run.of(config)
    run.prepare(config)  # then the start failed: a wrong path, weights that do not fit
    assert not run.started
    corrected = load_config(overrides=[f"run.dir={tmp_path}", "seed=4"])
    run.check_config(corrected)
    run.prepare(corrected)
    (run.checkpoints / "1").write_text("")
    with pytest.raises(ConfigError, match="seed 4 -> 0"):
        run.check_config(config)


def test_restart_with_a_changed_config_is_refused_with_the_changes(tmp_path: Path) -> None:
    run = started_run(tmp_path)
    changed = [f"run.dir={tmp_path}", "seed=4", "optim.name=sgd"]
    with pytest.raises(ConfigError) as error:
        run.check_config(load_config(overrides=changed))
    message = str(error.value)
    assert 'seed 0 -> 4, optim.name "adamw" -> "sgd".' in message
    assert "run.name=<new name>" in message and "run.reconfigure=true" in message
    run.check_config(load_config(overrides=[*changed, "run.reconfigure=true"]))


@pytest.mark.parametrize(
    ("first", "restart"),
    [
        (["trainer.max_steps=10"], ["trainer.max_steps=20"]),
        (["trainer.max_steps=10"], ["trainer.max_steps=10", "trainer.max_epochs=1"]),
        ([], ["trainer.max_epochs=20"]),
        ([], ["trainer.devices=2", "data.num_workers=0", "log.every=1", "log.tensorboard=false"]),
        ([], ["trainer.checkpoint_every=7", "trainer.keep_checkpoints=1"]),
        ([], ["optim.lr=0.5", "run.reconfigure=true"]),
    ],
)
def test_restart_may_lengthen_the_run_and_change_how_it_runs(
    tmp_path: Path, first: list[str], restart: list[str]
) -> None:
    run = started_run(tmp_path, *first)
    run.check_config(load_config(overrides=[f"run.dir={tmp_path}", *restart]))


@pytest.mark.parametrize(
    ("first", "restart"),
    [
        (["trainer.max_steps=10"], ["trainer.max_steps=5"]),
        ([], ["trainer.max_epochs=2"]),
        ([], ["trainer.max_steps=5"]),
    ],
)
def test_restart_may_not_shorten_the_run(
    tmp_path: Path, first: list[str], restart: list[str]
) -> None:
    run = started_run(tmp_path, *first)
    with pytest.raises(ConfigError, match="a run may only be made longer"):
        run.check_config(load_config(overrides=[f"run.dir={tmp_path}", *restart]))
