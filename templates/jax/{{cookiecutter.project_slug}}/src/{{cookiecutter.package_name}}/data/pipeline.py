"""The input pipeline: Grain datasets over the readers and preprocessing of `data/`.

Training reads one endless stream: the training split shuffled with `seed` (a new order every
epoch), each process taking every `process_count`-th example from its own index, batched per
process; `devices.put_batch` assembles the global batch. The iterator's state is saved in every
checkpoint, so a resumed run continues with the batch it would have read next.
{%- if cookiecutter.task == "image" %}
Images are decoded (and augmented) in `data.num_workers` worker processes. Augmentation is drawn
from (seed, epoch, index in the split) alone (`data.augment`), so workers and restarts cannot
change what an example gets.
{%- else %}
Splits are encoded once up front (a bad row stops training before the first step) and batched
in `data.num_workers` background threads.
{%- endif %}

Evaluation reads a split once, in order, padded to whole global batches; each row carries its
`index` in the split (-1 for padding).
"""

from __future__ import annotations

from typing import Any

import grain
import jax
import numpy as np
{%- if cookiecutter.task == "image" %}
from absl import flags
from PIL import Image, UnidentifiedImageError
{%- endif %}

from {{ cookiecutter.package_name }}.data import Example, Preprocessor
{%- if cookiecutter.task == "image" %}
from {{ cookiecutter.package_name }}.data.image import augment as augment_image
from {{ cookiecutter.package_name }}.errors import DataError
{%- endif %}

Batch = dict[str, np.ndarray]


class Split:
    """A split as a random-access source of examples: the model's inputs and "target"."""

    def __init__(self, examples: list[Example], preprocessor: Preprocessor) -> None:
        targets = preprocessor.encode_targets(examples)
        self.targets = targets.astype(np.int32 if targets.dtype.kind == "i" else np.float32)
{%- if cookiecutter.task == "image" %}
        for example in examples:
            check_header(example)
        self.examples = examples
        self.preprocessor = preprocessor

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image = self.preprocessor.encode([self.examples[index]])["image"][0]
        return {"image": image, "target": self.targets[index]}
{%- else %}
        self.inputs = preprocessor.encode(examples)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {
            **{name: array[index] for name, array in self.inputs.items()},
            "target": self.targets[index],
        }
{%- endif %}


{%- if cookiecutter.task == "image" %}


def check_header(example: Example) -> None:
    """Stop before training on a file that is not an image; damage further into a file is
    reported when a loader decodes it."""
    try:
        with Image.open(example.image):
            pass
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise DataError(example.source, f"cannot decode image ({error})") from None
{%- endif %}


class _Padded:
    """`split` extended to `length` rows by repeating its last one, each with its "index"."""

    def __init__(self, split: Split, length: int) -> None:
        self.split, self.length = split, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        real = index < len(self.split)
        row = self.split[index if real else len(self.split) - 1]
        return {**row, "index": np.int32(index if real else -1)}


class _Rows:
{%- if cookiecutter.task == "image" %}
    """The row of `split` at each index of a shuffled, repeated stream of indices, augmented
    (when asked) by the epoch of its stream position and its index."""

    def __init__(self, split: Split, seed: int, augmented: bool) -> None:
        self.split, self.seed, self.augmented = split, seed, augmented

    def __call__(self, position: int, index: int) -> dict[str, Any]:
        row = self.split[index]
        if self.augmented:
            epoch = position // len(self.split)
            row["image"] = augment_image(row["image"], self.seed, epoch, int(index))
        return row
{%- else %}
    """The row of `split` at each index of a shuffled, repeated stream of indices."""

    def __init__(self, split: Split) -> None:
        self.split = split

    def __call__(self, position: int, index: int) -> dict[str, Any]:
        return self.split[index]
{%- endif %}


def train_batches(
    split: Split,
    batch_size: int,
    seed: int,
    num_workers: int,
{%- if cookiecutter.task == "image" %}
    augment: bool,
{%- endif %}
) -> grain.DatasetIterator:
    """This process's endless stream of training batches of `batch_size` examples."""
    indices = grain.MapDataset.range(len(split)).shuffle(seed=seed).repeat()
{%- if cookiecutter.task == "image" %}
    dataset = indices.map_with_index(_Rows(split, seed, augment))
{%- else %}
    dataset = indices.map_with_index(_Rows(split))
{%- endif %}
    dataset = dataset[jax.process_index() :: jax.process_count()]
    dataset = dataset.batch(batch_size, drop_remainder=True)
{%- if cookiecutter.task == "image" %}
    return iter(_prefetch_in_processes(dataset, num_workers))
{%- else %}
    return iter(_prefetch(dataset, num_workers))
{%- endif %}


def eval_batches(
    split: Split, batch_size: int, global_batch_size: int, num_workers: int
) -> grain.IterDataset:
    """This process's batches covering `split` once; `global_batch_size` pads the last one."""
    steps = -(-len(split) // global_batch_size)
    dataset = grain.MapDataset.source(_Padded(split, steps * global_batch_size))
    dataset = dataset[jax.process_index() :: jax.process_count()].batch(batch_size)
    return _prefetch(dataset, num_workers)


def _prefetch(dataset: grain.MapDataset, num_threads: int) -> grain.IterDataset:
    """Batches prepared ahead in `num_threads` background threads (0: when requested)."""
    options = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=2 * num_threads)
    return dataset.to_iter_dataset(options)
{%- if cookiecutter.task == "image" %}


def _prefetch_in_processes(dataset: grain.MapDataset, num_workers: int) -> grain.IterDataset:
    """Batches prepared ahead in `num_workers` worker processes (0: in this process)."""
    iterable = _prefetch(dataset, 0)
    if not num_workers:
        return iterable
    if not flags.FLAGS.is_parsed():
        # Grain's worker start-up reads an absl flag, an error before parsing (google/grain#1355).
        flags.FLAGS.mark_as_parsed()
    return iterable.mp_prefetch(grain.MultiprocessingOptions(num_workers=num_workers)).map(_copied)


def _copied(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The batch out of the workers' shared memory, which is then freed at once: a block still
    held when training ends is reported by Python as leaked at exit."""
    return {key: np.array(value) for key, value in batch.items()}
{%- endif %}
