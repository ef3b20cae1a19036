"""Framework and library log noise: off by default, shown with `--verbose` on any command.

The package's `__init__` calls `configure` before any framework is imported:
{%- if cookiecutter._framework == "pytorch" %}
PyTorch reads `TORCH_LOGS` when it loads.
{%- else %}
TensorFlow and XLA read their log levels from the environment when they load, and TensorFlow
logs a few lines while loading that no level hides, so its import runs with stderr closed.
{%- endif %}
Warnings raised in libraries are hidden, those of this project are not. Variables you set
yourself (and `python -W ...`) are left as they are.
"""

from __future__ import annotations

import argparse
import contextlib
{%- if cookiecutter._framework != "pytorch" %}
import importlib.abc
import importlib.machinery
{%- endif %}
import logging
import os
import sys
import warnings
from collections.abc import Iterator
{%- if cookiecutter._framework != "pytorch" %}
from types import ModuleType
{%- endif %}

VERBOSE_FLAG = "--verbose"
QUIET_ENVIRONMENT = {
{%- if cookiecutter._framework == "pytorch" %}
    "TORCH_LOGS": "-torch",  # errors only, from every PyTorch logger
{%- else %}
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow's C++ logs: fatal errors only
    "GRPC_VERBOSITY": "ERROR",
{%- endif %}
}
LIBRARY_LOGGERS = (
{%- if cookiecutter._framework == "pytorch" %}
    "onnxscript",
    "onnx_ir",
    "executorch",
    "torchao",  # "Failed to load ..._C_cutlass_90a.abi3.so" (CUDA kernels) on every import
{%- elif cookiecutter._framework == "tensorflow" %}
    "tensorflow",
    "tf2onnx",
{%- else %}
    "jax",
    "tensorflow",
{%- endif %}
)
{%- if cookiecutter._framework != "pytorch" %}
NOISY_IMPORTS = ("tensorflow",)
{%- endif %}


def verbose() -> bool:
    return VERBOSE_FLAG in sys.argv[1:]


def configure() -> None:
    """Quiet the frameworks, unless the command line holds `--verbose`."""
    if verbose():
        return
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    if not sys.warnoptions:
        warnings.filterwarnings("ignore")
        warnings.filterwarnings("default", module=rf"({__package__}(\.|$)|__main__$)")
{%- if cookiecutter._framework != "pytorch" %}
    if not any(isinstance(finder, _QuietImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport(NOISY_IMPORTS))
{%- endif %}


def add_verbose_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        VERBOSE_FLAG, action="store_true", help="show the frameworks' own logs and warnings"
    )


@contextlib.contextmanager
def native_stderr_closed() -> Iterator[None]:
    """Discard what native code writes to stderr meanwhile (unless `--verbose`)."""
    if verbose():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
{%- if cookiecutter._framework != "pytorch" %}


class _QuietImport(importlib.abc.MetaPathFinder):
    """Imports each of the named top-level packages with stderr closed."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def find_spec(
        self, name: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in self.names or name in sys.modules:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = module.__spec__.loader = self.loader
        with native_stderr_closed():
            self.loader.exec_module(module)
{%- endif %}
