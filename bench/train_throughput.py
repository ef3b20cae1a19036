"""Training throughput of a generated image project vs a minimal hand-written loop.

    python bench/train_throughput.py --framework pytorch [--steps 50] [--batch-size 64]

Run it with the framework's environment (the template's requirements/cpu.txt installed).
Each framework's measurement lives in bench/throughput_<framework>.py and prints its figures.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

FRAMEWORKS = ("pytorch", "tensorflow", "jax")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--framework", choices=FRAMEWORKS, required=True)
    parser.add_argument("--steps", type=int, default=50, help="timed steps after warm-up")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each loop (median kept)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    importlib.import_module(f"throughput_{args.framework}").main(args)


if __name__ == "__main__":
    main()
