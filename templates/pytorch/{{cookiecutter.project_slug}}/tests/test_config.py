from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.config import load_config
from {{ cookiecutter.package_name }}.errors import ConfigError


def test_defaults_load_and_overrides_apply() -> None:
    config = load_config(overrides=["optim.lr=3e-4", "trainer.max_steps=7", "seed=3"])
    assert config.optim.lr == pytest.approx(3e-4)
    assert config.trainer.max_steps == 7
    assert config.seed == 3


def test_config_file_is_merged_over_defaults(tmp_path: Path) -> None:
    preset = tmp_path / "preset.yaml"
    preset.write_text("trainer:\n  max_epochs: 2\n")
    config = load_config(preset, ["trainer.max_steps=5"])
    assert (config.trainer.max_epochs, config.trainer.max_steps) == (2, 5)
    assert config.optim.name == load_config().optim.name


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optim.lrr=0.1", "optim.lrr"),
        ("trainer.max_steps=many", "trainer.max_steps"),
        ("trainer.precision=fp8", "trainer.precision"),
        ("log.tensorboard=maybe", "log.tensorboard"),
        ("nothing.here=1", "nothing"),
    ],
)
def test_bad_override_names_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(overrides=[override])


def test_unknown_key_in_config_file_is_refused(tmp_path: Path) -> None:
    preset = tmp_path / "preset.yaml"
    preset.write_text("optim:\n  momentum: 0.9\n")
    with pytest.raises(ConfigError, match=r"optim\.momentum"):
        load_config(preset)
