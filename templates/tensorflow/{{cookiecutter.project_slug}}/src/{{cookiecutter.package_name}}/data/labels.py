"""Class labels: the names seen in the training split, their indices, and readable predictions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from {{ cookiecutter.package_name }}.errors import DataError


class Labels:
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self._index = {name: i for i, name in enumerate(names)}

    @classmethod
    def fit(cls, values: Iterable[str]) -> Labels:
        return cls(sorted(set(values)))

    def __len__(self) -> int:
        return len(self.names)

    def encode(self, values: Iterable[tuple[str, str]]) -> np.ndarray:
        """Indices of `(label, source)` pairs; a label unseen in training names its source."""
        indices = []
        for label, source in values:
            if label not in self._index:
                raise DataError(source, f"label {label!r} does not occur in the training split")
            indices.append(self._index[label])
        return np.asarray(indices, dtype=np.int64)

    def describe(self, logits: np.ndarray) -> list[dict[str, Any]]:
        """The predicted label and every label's probability, for each row of logits."""
        return [
            {
                "label": self.names[int(row.argmax())],
                "probabilities": {
                    name: round(float(p), 6) for name, p in zip(self.names, row, strict=True)
                },
            }
            for row in softmax(logits)
        ]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
