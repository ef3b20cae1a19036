{% if cookiecutter.task == "image" -%}
import base64
{% endif -%}
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from {{ cookiecutter.package_name }} import console
from {{ cookiecutter.package_name }}.config import Config, DataConfig, load_config
from {{ cookiecutter.package_name }}.data import Preprocessor, load_split
{%- if cookiecutter.task == "tabular" %}, write_sample{% endif %}
from {{ cookiecutter.package_name }}.data.__main__ import main as data_main
{%- if cookiecutter.task == "image" %}
from {{ cookiecutter.package_name }}.data.image import augment
from {{ cookiecutter.package_name }}.data.labels import Labels
{%- elif cookiecutter.task == "text" %}
from {{ cookiecutter.package_name }}.data.text import normalize
{%- endif %}
from {{ cookiecutter.package_name }}.errors import DataError, InvalidInput

# The golden vectors of docs/preprocessing.md: inputs and the exact arrays they encode to.
GOLDEN = json.loads((Path(__file__).parent / "golden" / "{{ cookiecutter.task }}.json").read_text())


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


def test_data_check_says_when_there_is_no_val_split(sample_data, tmp_path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
{%- if cookiecutter.task == "image" %}
    shutil.rmtree(data / "val")
{%- else %}
    (data / "val.csv").unlink()
{%- endif %}
    data_main(["check", f"data.path={data}"])
    lines = capsys.readouterr().out.splitlines()
    assert console.no_validation(str(data)) in lines
    assert any(line.startswith("test: ") and "examples" in line for line in lines)


def _copy(sample_data: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(sample_data, tmp_path / "data"))


def _check_fails_naming(data: Path, culprit: Path | str, capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as exit_info:
        data_main(["check", f"data.path={data}"])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert str(culprit) in message
    return message


def _config(data: Path, settings: dict[str, Any]) -> DataConfig:
    overrides = [f"data.{key}={json.dumps(value)}" for key, value in settings.items()]
    return load_config(overrides=[f"data.path={data}", *overrides]).data


def _write_files(folder: Path, files: dict[str, dict[str, Any]]) -> Path:
    """Write the golden files: `lines` joined by `newline`, after a byte order mark if `bom`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, spec in files.items():
        newline = spec.get("newline", "\n")
        text = ("\ufeff" if spec.get("bom") else "") + newline.join(spec["lines"]) + newline
        (folder / name).write_bytes(text.encode("utf-8"))
    return folder


def _assert_encodes(inputs: dict[str, np.ndarray], expected: dict[str, Any], spec: dict) -> None:
    assert set(inputs) == set(spec)
    for name, (_, dtype) in spec.items():
        assert inputs[name].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(inputs[name], np.asarray(expected[name], dtype=dtype))
{%- if cookiecutter.task == "image" %}


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda case: case["name"])
def test_golden_vectors(case: dict[str, Any], tmp_path: Path) -> None:
    expected = np.asarray(case["image"], dtype=np.float32)
    np.testing.assert_array_equal(expected, np.asarray(case["pixels"], np.float32) / 255)
    png = base64.b64decode(case["png_base64"])
    (tmp_path / "train" / "only").mkdir(parents=True)
    (tmp_path / "train" / "only" / "image.png").write_bytes(png)
    config = _config(tmp_path, {"image_size": case["image_size"]})
    preprocessor = Preprocessor.fit(load_split(config, "train"), config)
    assert preprocessor.input_spec == {"image": (expected.shape, "float32")}
    from_file = preprocessor.encode(load_split(config, "train"))["image"]
    request = preprocessor.parse_instances([{"image": case["png_base64"]}])
    from_request = Preprocessor(Labels(["only"]), case["image_size"]).encode(request)["image"]
    for encoded in (from_file, from_request):
        assert encoded.dtype == np.float32
        np.testing.assert_array_equal(encoded[0], expected)


def _augment_golden_image() -> np.ndarray:
    size = GOLDEN["augment"]["image_size"]
    return (np.arange(size * size * 3, dtype=np.float32).reshape(size, size, 3) + 1) / 256


def _crop(image: np.ndarray, flip: bool, top: int, left: int) -> np.ndarray:
    """The augmentation of docs/preprocessing.md for given draws."""
    pad = GOLDEN["augment"]["pad"]
    size = image.shape[0]
    padded = np.pad(image[:, ::-1] if flip else image, ((pad, pad), (pad, pad), (0, 0)))
    return padded[top : top + size, left : left + size]


@pytest.mark.parametrize("draw", GOLDEN["augment"]["draws"], ids=str)
def test_augment_golden_draws(draw: dict[str, Any]) -> None:
    image = _augment_golden_image()
    augmented = augment(image, draw["seed"], draw["epoch"], draw["index"])
    assert augmented.shape == image.shape and augmented.dtype == image.dtype
    np.testing.assert_array_equal(augmented, _crop(image, draw["flip"], draw["top"], draw["left"]))


def _draws(seed: int, epoch: int, indices: range) -> list[tuple[bool, int, int]]:
    """The (flip, top, left) each index got, read back from the augmented images."""
    image = _augment_golden_image()
    span = 2 * GOLDEN["augment"]["pad"] + 1
    offsets = [(top, left) for top in range(span) for left in range(span)]
    candidates = [(flip, *offset) for flip in (False, True) for offset in offsets]
    stacked = np.stack([_crop(image, *candidate) for candidate in candidates])
    draws = []
    for index in indices:
        matches = (stacked == augment(image, seed, epoch, index)).all(axis=(1, 2, 3))
        assert matches.sum() == 1
        draws.append(candidates[int(matches.argmax())])
    return draws


def test_augment_is_a_function_of_seed_epoch_and_index() -> None:
    forward = _draws(0, 0, range(64))
    assert _draws(0, 0, range(63, -1, -1))[::-1] == forward  # call order changes nothing
    assert sum(a != b for a, b in zip(forward, _draws(0, 1, range(64)), strict=True)) > 48
    assert sum(a != b for a, b in zip(forward, _draws(1, 0, range(64)), strict=True)) > 48


def test_augment_flips_half_and_crops_every_offset_alike() -> None:
    count = 3000
    draws = _draws(3, 2, range(count))
    assert abs(sum(flip for flip, _, _ in draws) / count - 0.5) < 0.05
    span = 2 * GOLDEN["augment"]["pad"] + 1
    for top in range(span):
        for left in range(span):
            share = sum(d[1:] == (top, left) for d in draws) / count
            assert abs(share - 1 / span**2) < 0.04, (top, left, share)


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
{%- else %}


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda case: case["name"])
def test_golden_vectors(case: dict[str, Any], tmp_path: Path) -> None:
    config = _config(_write_files(tmp_path / "data", case["files"]), case["config"])
    train, val = load_split(config, "train"), load_split(config, "val")
    fitted = Preprocessor.fit(train, config)
    fitted.save(tmp_path / "preprocessor.json")
    state = json.loads((tmp_path / "preprocessor.json").read_text())
    assert {key: state[key] for key in case["fitted"]} == case["fitted"]
    spec = {name: [list(shape), dtype] for name, (shape, dtype) in fitted.input_spec.items()}
    assert spec == case["input_spec"]
{%- if cookiecutter.task == "text" %}
    for split, examples in (("train", train), ("val", val)):
        normalized = [normalize(e.text, config.lowercase) for e in examples]
        assert normalized == case["normalized"][split]
{%- endif %}

    (tmp_path / "golden.json").write_text(json.dumps(case["fitted"]))
    for preprocessor in (fitted, Preprocessor.load(tmp_path / "golden.json")):
        expected = case["encoded"]["val"]
        _assert_encodes(preprocessor.encode(val), expected, preprocessor.input_spec)
        assert preprocessor.encode_targets(val).tolist() == expected["targets"]
        instances = preprocessor.parse_instances(case["instances"])
        encoded = preprocessor.encode(instances)
        _assert_encodes(encoded, case["encoded_instances"], preprocessor.input_spec)
{%- if cookiecutter.task == "tabular" %}
        known = [{c: preprocessor.is_known(c, v) for c, v in e.features.items()} for e in instances]
        assert known == case["known"]


@pytest.mark.parametrize("case", GOLDEN["errors"], ids=lambda case: case["error"])
def test_golden_errors(case: dict[str, Any], tmp_path: Path, capsys) -> None:
    data = _write_files(tmp_path / "data", case["files"])
    with pytest.raises(SystemExit) as exit_info:
        data_main(["check", f"data.path={data}"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"error: {data}/{case['error']}\n"


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_infinity_is_named_in_every_split(sample_data, tmp_path, capsys, split: str) -> None:
    data = _copy(sample_data, tmp_path)
    lines = (data / f"{split}.csv").read_text().splitlines()
    lines[4] = "-INF," + lines[4].split(",", 1)[1]
    (data / f"{split}.csv").write_text("\n".join(lines) + "\n")
    message = _check_fails_naming(data, f"{data / split}.csv:5", capsys)
    assert message == f"error: {data / split}.csv:5: column age: -INF is not a finite number\n"


def test_nan_in_a_numeric_training_column_keeps_it_numeric(sample_data, tmp_path) -> None:
    data = _copy(sample_data, tmp_path)
    lines = (data / "train.csv").read_text().splitlines()
    lines[7] = "nan," + lines[7].split(",", 1)[1]
    (data / "train.csv").write_text("\n".join(lines) + "\n")
    config = _config(data, {})
    train = load_split(config, "train")
    preprocessor = Preprocessor.fit(train, config)
    assert preprocessor.numeric_columns == ["age", "income", "tenure_months"]
    assert list(preprocessor.numeric) == [*preprocessor.numeric_columns, "age:missing"]
    assert preprocessor.input_spec["numeric"] == ((4,), "float32")
    numeric = preprocessor.encode(train)["numeric"]
    assert numeric[:, 3].tolist() == [float(i == 6) for i in range(len(train))]
    mean, std = preprocessor.numeric["age"]
    assert numeric[6, 0] == np.float32((preprocessor.medians["age"] - mean) / std)


def test_data_check_names_what_makes_a_column_of_numbers_categorical(
    sample_data, tmp_path, capsys
) -> None:
    data = _copy(sample_data, tmp_path)
    lines = (data / "train.csv").read_text().splitlines()
    lines[4] = "n.a.," + lines[4].split(",", 1)[1]
    (data / "train.csv").write_text("\n".join(lines) + "\n")
    data_main(["check", f"data.path={data}"])
    note = f"note: column age is categorical because of 'n.a.' at {data / 'train.csv'}:5"
    assert note in capsys.readouterr().out.splitlines()


def test_a_column_named_as_an_indicator_is_refused(tmp_path: Path) -> None:
    lines = ["income,income:missing,target", "1,0,yes", ",1,no"]
    data = _write_files(tmp_path / "data", {"train.csv": {"lines": lines}})
    config = _config(data, {})
    with pytest.raises(DataError, match="'income:missing' is named as the missing-value indicator"):
        Preprocessor.fit(load_split(config, "train"), config)


def test_text_in_numeric_column_is_named(sample_data, tmp_path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
    lines = (data / "val.csv").read_text().splitlines()
    lines[1] = "old," + lines[1].split(",", 1)[1]
    (data / "val.csv").write_text("\n".join(lines) + "\n")
    message = _check_fails_naming(data, f"{data / 'val.csv'}:2", capsys)
    assert message.endswith(": column age: 'old' is not a number\n")


def test_preprocessor_files_of_the_previous_version_still_load(tmp_path: Path) -> None:
    """Saved before medians and indicators: missing values stay the mean, no indicators."""
    case = GOLDEN["cases"][0]
    old = {k: v for k, v in case["fitted"].items() if k not in ("medians", "indicators")}
    old["numeric"] = {k: v for k, v in old["numeric"].items() if not k.endswith(":missing")}
    (tmp_path / "preprocessor.json").write_text(json.dumps(old))
    preprocessor = Preprocessor.load(tmp_path / "preprocessor.json")
    assert preprocessor.input_spec["numeric"] == ((2,), "float32")
    config = _config(_write_files(tmp_path / "data", case["files"]), case["config"])
    numeric = preprocessor.encode(load_split(config, "val"))["numeric"]
    expected = np.asarray(case["encoded"]["val"]["numeric"], np.float32)[:, :2]
    expected[[0, 2, 4], [1, 1, 0]] = 0.0  # the missing values: the mean, standardised
    np.testing.assert_array_equal(numeric, expected)


def test_missing_target_column_is_named(sample_data: Path, tmp_path: Path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
    (data / "val.csv").write_text("age,income\n30,1000\n")
    assert "'target'" in _check_fails_naming(data, data / "val.csv", capsys)


def test_regression_target_is_standardised_and_restored(tmp_path: Path) -> None:
    write_sample(tmp_path, objective="regression")
    config = _config(tmp_path, {})
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
    for infinite in (float("inf"), -float("inf"), 10**400):
        with pytest.raises(InvalidInput, match="'income' is not a finite number"):
            preprocessor.parse_instances([{**valid, "income": infinite}])
    as_nan, as_null = ({**valid, "income": value} for value in (float("nan"), None))
    numeric = preprocessor.encode(preprocessor.parse_instances([as_nan, as_null]))["numeric"]
    np.testing.assert_array_equal(numeric[0], numeric[1])  # NaN is missing, as null is
{%- else %}


def test_preprocessor_files_of_the_previous_version_keep_their_tokens(tmp_path: Path) -> None:
    """Saved before Unicode normalisation: the same tokens as then (no NFKC)."""
    state = {"labels": ["a"], "vocab": ["[PAD]", "[UNK]", "fish"], "lowercase": True}
    (tmp_path / "preprocessor.json").write_text(json.dumps({**state, "max_length": 2}))
    old = Preprocessor.load(tmp_path / "preprocessor.json")
    state["unicode_form"] = "NFKC"
    (tmp_path / "preprocessor.json").write_text(json.dumps({**state, "max_length": 2}))
    new = Preprocessor.load(tmp_path / "preprocessor.json")
    ligature = old.parse_instances(["\ufb01sh FISH"])
    assert old.encode(ligature)["tokens"].tolist() == [[1, 2]]
    assert new.encode(ligature)["tokens"].tolist() == [[2, 2]]


def test_missing_column_is_named(sample_data: Path, tmp_path: Path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
    (data / "val.csv").write_text("text,topic\nhello,sports\n")
    assert "'label'" in _check_fails_naming(data, data / "val.csv", capsys)


def test_ragged_row_is_named_by_its_line(sample_data, tmp_path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
    lines = len((data / "train.csv").read_text().splitlines())
    with (data / "train.csv").open("a") as file:
        file.write('"two\nlines",sports\n\none,two,three\n')
    message = _check_fails_naming(data, f"{data / 'train.csv'}:{lines + 4}", capsys)
    assert message.endswith("expected 2 fields, found 3\n")


def test_jsonl_split_is_read_and_bad_lines_named(sample_data, tmp_path, capsys) -> None:
    data = _copy(sample_data, tmp_path)
    (data / "val.csv").unlink()
    (data / "val.jsonl").write_text('{"text": "the match", "label": "sports"}\n{"text": oops}\n')
    assert "invalid JSON" in _check_fails_naming(data, f"{data / 'val.jsonl'}:2", capsys)


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
{%- endif %}
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
