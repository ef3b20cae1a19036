"""Reading the {{ cookiecutter.task }} data, fitting its preprocessing, and writing sample data.

Everything here is framework-free NumPy; the framework's input pipeline is `data/pipeline.py`.
Every consumer (training, evaluation, export, serving) encodes inputs with `Preprocessor.encode`;
docs/preprocessing.md is its written specification.
"""

from {{ cookiecutter.package_name }}.data.{{ cookiecutter.task }} import (
    Example,
    Preprocessor,
    has_split,
    load_split,
    write_sample,
)

PREPROCESSOR_FILE = "preprocessor.json"

__all__ = [
    "PREPROCESSOR_FILE",
    "Example",
    "Preprocessor",
    "has_split",
    "load_split",
    "write_sample",
]
