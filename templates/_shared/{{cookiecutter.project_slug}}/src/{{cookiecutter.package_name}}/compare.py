"""Compare runs: the config keys they differ in and their final val metrics.

    python -m {{ cookiecutter.package_name }}.compare runs/a runs/b runs/sweep/*
        [--plot compare.png]

Runs that differ only in `seed` (and their name) are one row: each metric as mean ± std over
them. `--plot FILE` draws every run's val curve in one PNG.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.config import read_yaml, show
from {{ cookiecutter.package_name }}.console import HIGHER_IS_BETTER
from {{ cookiecutter.package_name }}.errors import UserError, exit_on_user_error
from {{ cookiecutter.package_name }}.quiet import add_verbose_argument
from {{ cookiecutter.package_name }}.runs import Run, flatten

IGNORED = ("run.", "seed", "log.", "data.num_workers", "trainer.devices")


def load(paths: list[Path]) -> list[tuple[Run, dict[str, Any], dict[str, Any]]]:
    """Each run's flat config and its final val record (empty without one)."""
    runs = []
    for path in paths:
        if not (path / "config.yaml").is_file():
            raise UserError(f"{path}: not a run folder (no config.yaml)")
        run = Run(path)
        val = [r for r in run.read_metrics() if r["split"] == "val"]
        runs.append((run, flatten(read_yaml(run.config_file)), val[-1] if val else {}))
    return runs


def table(paths: list[Path]) -> str:
    runs = load(paths)
    configs = [config for _, config, _ in runs]
    differing = sorted(
        key
        for key in set().union(*configs)
        if not key.startswith(IGNORED) and len({show(c.get(key)) for c in configs}) > 1
    )
    metrics = [k for k in ("loss", *HIGHER_IS_BETTER) if any(k in final for *_, final in runs)]
    groups: dict[tuple[str, ...], list[tuple[Run, dict[str, Any], dict[str, Any]]]] = {}
    for entry in runs:
        groups.setdefault(tuple(show(entry[1].get(k)) for k in differing), []).append(entry)
    header = ["run", *differing, "seeds", *(f"val {m}" for m in metrics)]
    rows = [header]
    for values, members in groups.items():
        names = ", ".join(run.root.name for run, *_ in members)
        seeds = ", ".join(str(config.get("seed")) for _, config, _ in members)
        figures = [_mean_std([final.get(m) for *_, final in members]) for m in metrics]
        rows.append([names, *values, seeds, *figures])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def _mean_std(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    if len(present) == 1:
        return f"{present[0]:.4f}"
    return f"{statistics.mean(present):.4f} ± {statistics.stdev(present):.4f}"


def plot(paths: list[Path], out: Path) -> None:
    from matplotlib.figure import Figure

    runs = load(paths)
    metric = next((k for k in HIGHER_IS_BETTER if any(k in f for *_, f in runs)), "loss")
    figure = Figure(figsize=(11, 4))
    loss_axis, metric_axis = figure.subplots(1, 2)
    for run, _, _ in runs:
        val = [r for r in run.read_metrics() if r["split"] == "val"]
        train = [r for r in run.read_metrics() if r["split"] == "train"]
        (line,) = loss_axis.plot(
            [r["step"] for r in train], [r["loss"] for r in train], label=run.root.name
        )
        metric_axis.plot(
            [r["step"] for r in val],
            [r.get(metric) for r in val],
            marker="o",
            color=line.get_color(),
            label=run.root.name,
        )
    loss_axis.set(xlabel="step", ylabel="train loss", title="Train loss")
    metric_axis.set(xlabel="step", ylabel=metric, title=f"val {metric}")
    metric_axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(out, dpi=100)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Compare runs: config differences and metrics.")
    parser.add_argument("runs", type=Path, nargs="+", help="run folders, e.g. runs/a runs/b")
    parser.add_argument("--plot", type=Path, metavar="FILE", help="overlay the curves in a PNG")
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    print(table(args.runs))
    if args.plot:
        plot(args.runs, args.plot)
        print(f"Curves: {args.plot}")


if __name__ == "__main__":
    main()
