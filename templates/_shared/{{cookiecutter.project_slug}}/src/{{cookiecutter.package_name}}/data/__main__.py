"""Data commands: write the sample dataset, or check that a dataset is usable.

    python -m {{ cookiecutter.package_name }}.data sample --out data/sample
    python -m {{ cookiecutter.package_name }}.data check [--config FILE] [data.path=data/sample]

A problem in the data stops `check` with the file (and line) it is in.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from {{ cookiecutter.package_name }} import console
from {{ cookiecutter.package_name }}.config import add_config_arguments, config_from_args
from {{ cookiecutter.package_name }}.data import Preprocessor, has_split, load_split, write_sample
{%- if cookiecutter.task == "tabular" %}
from {{ cookiecutter.package_name }}.data.tabular import Example, is_missing, parse_number
{%- endif %}
from {{ cookiecutter.package_name }}.errors import exit_on_user_error

SPLITS = ("train", "val", "test")


def sample(args: argparse.Namespace) -> None:
{%- if cookiecutter.task == "tabular" %}
    write_sample(args.out, seed=args.seed, objective=args.objective)
{%- else %}
    write_sample(args.out, seed=args.seed)
{%- endif %}
    print(f"Wrote a sample dataset to {args.out}")


def check(args: argparse.Namespace) -> None:
    """Read every split and encode it as training would; any problem stops with its file."""
    config = config_from_args(args).data
    train = load_split(config, "train")
    preprocessor = Preprocessor.fit(train, config)
    for split in SPLITS:
        if split == "train" or has_split(config, split):
            examples = train if split == "train" else load_split(config, split)
            preprocessor.encode(examples)
            preprocessor.encode_targets(examples)
            print(f"{split}: {len(examples)} examples")
        elif split == "val":
            print(console.no_validation(config.path))
        else:
            print(f"{split}: none")
    print(f"{preprocessor.objective} with {preprocessor.output_size} output(s)")
{%- if cookiecutter.task == "tabular" %}
    describe_columns(preprocessor, train)
{%- endif %}
    print(f"model inputs: {preprocessor.input_spec}")
{%- if cookiecutter.task == "tabular" %}


def describe_columns(preprocessor: Preprocessor, train: list[Example]) -> None:
    """The column types, and why a column of mostly numbers is categorical."""
    if preprocessor.numeric_columns:
        print(f"numeric columns: {', '.join(preprocessor.numeric_columns)}")
    if preprocessor.indicators:
        names = ", ".join(preprocessor.indicators)
        print(f"missing values (training median, plus an indicator input) in: {names}")
    if preprocessor.categorical:
        sizes = (f"{c} ({len(v)} values)" for c, v in preprocessor.categorical.items())
        print(f"categorical columns: {', '.join(sizes)}")
    for column in preprocessor.categorical:
        present = [e for e in train if not is_missing(e.features[column])]
        words = [e for e in present if parse_number(e.features[column]) is None]
        if len(words) < len(present) / 2:
            value, source = words[0].features[column], words[0].source
            print(f"note: column {column} is categorical because of {value!r} at {source}")
{%- endif %}


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m {{ cookiecutter.package_name }}.data")
    commands = parser.add_subparsers(dest="command", required=True)
    sample_parser = commands.add_parser(
        "sample", help="write a small dataset in the real on-disk format"
    )
    sample_parser.add_argument("--out", type=Path, default=Path("data/sample"))
    sample_parser.add_argument("--seed", type=int, default=0)
{%- if cookiecutter.task == "tabular" %}
    sample_parser.add_argument(
        "--objective", choices=("classification", "regression"), default="classification"
    )
{%- endif %}
    sample_parser.set_defaults(run=sample)
    check_parser = commands.add_parser("check", help="validate the configured dataset")
    add_config_arguments(check_parser)
    check_parser.set_defaults(run=check)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
