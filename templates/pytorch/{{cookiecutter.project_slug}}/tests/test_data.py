import shutil
from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.config import Config
from {{ cookiecutter.package_name }}.data import Preprocessor, load_split
{%- if cookiecutter.task == "tabular" %}, write_sample{% endif %}
from {{ cookiecutter.package_name }}.data.__main__ import main as data_main
from {{ cookiecutter.package_name }}.errors import DataError, InvalidInput


def test_sample_encodes_to_the_input_spec(tiny_config: Config, tmp_path: Path) -> None:
    train = load_split(tiny_config.data, "train")
    preprocessor = Preprocessor.fit(train, tiny_config.data)
    inputs = preprocessor.encode(train[:5])
    for name, (shape, dtype) in preprocessor.input_spec.items():
        assert inputs[name].shape == (5, *shape)
        assert inputs[name].dtype == np.dtype(dtype)
    targets = preprocessor.encode_targets(load_split(tiny_config.data, "val"))
    assert len(set(targets.tolist())) == preprocessor.output_size > 1

    preprocessor.save(tmp_path / "preprocessor.json")
    reloaded = Preprocessor.load(tmp_path / "preprocessor.json")
    for name, array in reloaded.encode(train[:5]).items():
        np.testing.assert_array_equal(array, inputs[name])


def test_data_check_accepts_the_sample(sample_data: Path, capsys: pytest.CaptureFixture) -> None:
    data_main(["check", f"data.path={sample_data}"])
    assert "train:" in capsys.readouterr().out


def _copy(sample_data: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(sample_data, tmp_path / "data"))


def _check_fails_naming(data: Path, culprit: Path | str, capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as exit_info:
        data_main(["check", f"data.path={data}"])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert str(culprit) in message
    return message
{%- if cookiecutter.task == "image" %}


def test_corrupt_image_is_named(sample_data: Path, tmp_path: Path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
    broken = next((data / "val" / "circle").iterdir())
    broken.write_bytes(b"not a png")
    assert "cannot decode image" in _check_fails_naming(data, broken, capsys)


def test_class_folder_without_images_is_named(sample_data, tmp_path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
    (data / "train" / "empty").mkdir()
    assert "no images" in _check_fails_naming(data, data / "train" / "empty", capsys)


def test_label_unseen_in_training_is_named(sample_data, tmp_path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
    (data / "val" / "circle").rename(data / "val" / "oval")
    assert "'oval'" in _check_fails_naming(data, data / "val" / "oval", capsys)


def test_request_instances_are_validated(tiny_config: Config) -> None:
    preprocessor = Preprocessor.fit(load_split(tiny_config.data, "train"), tiny_config.data)
    with pytest.raises(InvalidInput, match="base64"):
        preprocessor.parse_instances([{"image": "***"}])
    with pytest.raises(InvalidInput, match="PNG or JPEG"):
        preprocessor.parse_instances(["aGVsbG8="])
{%- elif cookiecutter.task == "text" %}


def test_missing_column_is_named(sample_data: Path, tmp_path: Path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
    (data / "val.csv").write_text("text,topic\nhello,sports\n")
    assert "'label'" in _check_fails_naming(data, data / "val.csv", capsys)


def test_ragged_row_is_named(sample_data, tmp_path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
    with (data / "train.csv").open("a") as file:
        file.write("one,two,three\n")
    assert "fields" in _check_fails_naming(data, data / "train.csv", capsys)


def test_jsonl_split_is_read_and_bad_lines_named(sample_data, tmp_path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
    (data / "val.csv").unlink()
    (data / "val.jsonl").write_text('{"text": "the match", "label": "sports"}\n{"text": oops}\n')
    assert "invalid JSON" in _check_fails_naming(data, data / "val.jsonl", capsys)


def test_label_unseen_in_training_is_named(sample_data, tmp_path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
    (data / "val.csv").write_text("text,label\nsome words,poetry\n")
    assert "'poetry'" in _check_fails_naming(data, data / "val.csv", capsys)


def test_unknown_words_map_to_unk(tiny_config: Config) -> None:
    preprocessor = Preprocessor.fit(load_split(tiny_config.data, "train"), tiny_config.data)
    tokens = preprocessor.encode(preprocessor.parse_instances(["zzzz qqqq"]))["tokens"]
    assert tokens[0, :2].tolist() == [1, 1] and tokens[0, 2:].sum() == 0
    with pytest.raises(InvalidInput, match="instance 0"):
        preprocessor.parse_instances([42])
{%- else %}


def test_missing_target_column_is_named(sample_data: Path, tmp_path: Path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
    (data / "val.csv").write_text("age,income\n30,1000\n")
    assert "'target'" in _check_fails_naming(data, data / "val.csv", capsys)


def test_text_in_numeric_column_is_named(sample_data, tmp_path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
    lines = (data / "val.csv").read_text().splitlines()
    lines[1] = "old," + lines[1].split(",", 1)[1]
    (data / "val.csv").write_text("\n".join(lines) + "\n")
    assert "'age'" in _check_fails_naming(data, f"{data / 'val.csv'}:2", capsys)


def test_regression_target_is_standardised_and_restored(tmp_path: Path, tiny_config) -> None:
    write_sample(tmp_path, objective="regression")
    config = tiny_config.data.__class__(**{**vars(tiny_config.data), "path": str(tmp_path)})
    train = load_split(config, "train")
    preprocessor = Preprocessor.fit(train, config)
    assert preprocessor.objective == "regression" and preprocessor.output_size == 1
    targets = preprocessor.encode_targets(train)
    assert abs(targets.mean()) < 1e-5 and abs(targets.std() - 1) < 1e-4
    restored = [p["value"] for p in preprocessor.describe_outputs(targets[:3])]
    assert restored == pytest.approx([float(e.target) for e in train[:3]], rel=1e-4)


def test_request_instances_are_validated(tiny_config: Config) -> None:
    preprocessor = Preprocessor.fit(load_split(tiny_config.data, "train"), tiny_config.data)
    valid = {"age": 30, "income": 1000.0, "tenure_months": 3, "plan": "basic", "region": "north"}
    assert len(preprocessor.parse_instances([valid])) == 1
    with pytest.raises(InvalidInput, match="missing feature 'age'"):
        preprocessor.parse_instances([{k: v for k, v in valid.items() if k != "age"}])
    with pytest.raises(InvalidInput, match="'income' must be a number"):
        preprocessor.parse_instances([{**valid, "income": "lots"}])
{%- endif %}


def test_empty_split_is_named(sample_data: Path, tmp_path: Path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
{%- if cookiecutter.task == "image" %}
    shutil.rmtree(data / "val")
    (data / "val").mkdir()
    _check_fails_naming(data, data / "val", capsys)
{%- else %}
    header = (data / "val.csv").read_text().splitlines()[0]
    (data / "val.csv").write_text(header + "\n")
    assert "no rows" in _check_fails_naming(data, data / "val.csv", capsys)
{%- endif %}


def test_load_split_raises_data_error_for_missing_split(tiny_config: Config) -> None:
    with pytest.raises(DataError, match="missing"):
        load_split(tiny_config.data, "missing")
