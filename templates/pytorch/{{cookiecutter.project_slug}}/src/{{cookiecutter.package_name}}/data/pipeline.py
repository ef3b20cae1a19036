"""The PyTorch input pipeline over the examples and preprocessing of the data module.

Training batches come from a seeded, per-epoch shuffle that every process shards alike
(`DistributedSampler`), so a run restarted mid-epoch continues with the very batches it would
have seen. Evaluation shards the split without shuffling and gathers the outputs in order.
{%- if cookiecutter.task == "image" %}
Images are decoded (and augmented) lazily in the loader's worker processes. An example's
augmentation is drawn from (seed, epoch, index) alone (`data.image.augment`), so neither the
number of workers nor a restart changes it: a resumed run sees the very pixels it would have seen.
{%- else %}
The split is encoded once, up front, into arrays.
{%- endif %}
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import torch
{%- if cookiecutter.task == "image" %}
from PIL import Image, UnidentifiedImageError
{%- endif %}
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from {{ cookiecutter.package_name }}.data import Example, Preprocessor
{%- if cookiecutter.task == "image" %}
from {{ cookiecutter.package_name }}.data.image import augment
{%- endif %}
from {{ cookiecutter.package_name }}.devices import Environment
{%- if cookiecutter.task == "image" %}
from {{ cookiecutter.package_name }}.errors import DataError, UserError
{%- endif %}

Batch = dict[str, torch.Tensor]
{%- if cookiecutter.task == "image" %}


class WorkerDataError(UserError):
    """A `DataError` raised in a loader worker. DataLoader re-raises a worker's exception as
    `type(message)`, the message holding the worker's traceback: keep the original line only."""

    def __init__(self, message: str) -> None:
        last_line = message.rstrip().splitlines()[-1]
        super().__init__(last_line.split(f"{type(self).__name__}: ", 1)[-1])


class ImageDataset(Dataset):
    """Decodes one image per item. Given `augment_seed`, items are keyed by (epoch, index) pairs
    (what `ResumableSampler` yields) and get a random flip and crop drawn from
    (augment_seed, epoch, index); plain indices give the image as it is.

    Every file's header is read up front, so an unreadable file stops training before the first
    step; damage further into a file is reported when a worker decodes it."""

    def __init__(
        self, examples: list[Example], preprocessor: Preprocessor, augment_seed: int | None
    ) -> None:
        for example in examples:
            check_header(example)
        self.examples = examples
        self.preprocessor = preprocessor
        self.augment_seed = augment_seed
        self.targets = torch.from_numpy(preprocessor.encode_targets(examples))

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, key: int | tuple[int, int]) -> Batch:
        epoch, index = key if isinstance(key, tuple) else (None, key)
        try:
            image = self.preprocessor.encode([self.examples[index]])["image"][0]
        except DataError as error:
            raise WorkerDataError(str(error)) from None
        if self.augment_seed is not None and epoch is not None:
            image = augment(image, self.augment_seed, epoch, index)
        return {"image": torch.from_numpy(image), "target": self.targets[index]}


def check_header(example: Example) -> None:
    try:
        with Image.open(example.image):
            pass
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise DataError(example.source, f"cannot decode image ({error})") from None
{%- else %}


class ArrayDataset(Dataset):
    """Encoded inputs and targets held in memory; an item is one row of each."""

    def __init__(self, examples: list[Example], preprocessor: Preprocessor) -> None:
        self.inputs = {
            name: torch.from_numpy(array) for name, array in preprocessor.encode(examples).items()
        }
        self.targets = torch.from_numpy(preprocessor.encode_targets(examples))

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> Batch:
        item = {name: array[index] for name, array in self.inputs.items()}
        return {**item, "target": self.targets[index]}
{%- endif %}


{% if cookiecutter.task == "image" -%}
def make_dataset(
    examples: list[Example], preprocessor: Preprocessor, augment_seed: int | None = None
) -> Dataset:
    """`augment_seed`: augment the training items (keyed by (epoch, index)) from this seed."""
    return ImageDataset(examples, preprocessor, augment_seed)
{%- else -%}
def make_dataset(examples: list[Example], preprocessor: Preprocessor) -> Dataset:
    return ArrayDataset(examples, preprocessor)
{%- endif %}


class ResumableSampler(DistributedSampler):
{%- if cookiecutter.task == "image" %}
    """This process's share of a seeded per-epoch shuffle, able to start part-way in, as
    (epoch, index) pairs: the dataset draws each example's augmentation from them."""
{%- else %}
    """This process's share of a seeded per-epoch shuffle, able to start part-way in."""
{%- endif %}

    def __init__(self, dataset: Dataset, env: Environment, seed: int, batch_size: int) -> None:
        super().__init__(
            dataset, num_replicas=env.world_size, rank=env.rank, seed=seed, drop_last=True
        )
        self.batch_size = batch_size
        self.skip = 0

    def start(self, epoch: int, batches_done: int = 0) -> None:
        self.set_epoch(epoch)
        self.skip = batches_done * self.batch_size
{%- if cookiecutter.task == "image" %}

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = itertools.islice(super().__iter__(), self.skip, None)
        return ((self.epoch, index) for index in indices)
{%- else %}

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.skip, None)
{%- endif %}

    def __len__(self) -> int:
        return super().__len__() - self.skip


def train_loader(
    dataset: Dataset, env: Environment, batch_size: int, num_workers: int, seed: int
) -> DataLoader:
    """Batches of `batch_size` examples per process; iterate after `loader.sampler.start(...)`."""
    sampler = ResumableSampler(dataset, env, seed, batch_size)
    return _loader(dataset, sampler, env, batch_size, num_workers, seed, drop_last=True)


def eval_loader(
    dataset: Dataset, env: Environment, batch_size: int, num_workers: int
) -> DataLoader:
    """This process's strided share of the split (padded to equal length), in order."""
    sampler = DistributedSampler(dataset, num_replicas=env.world_size, rank=env.rank, shuffle=False)
    return _loader(dataset, sampler, env, batch_size, num_workers, seed=0, drop_last=False)


def _loader(
    dataset: Dataset,
    sampler: DistributedSampler,
    env: Environment,
    batch_size: int,
    num_workers: int,
    seed: int,
    drop_last: bool,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=env.device.type == "cuda",
        persistent_workers=num_workers > 0,
        drop_last=drop_last,
        generator=torch.Generator().manual_seed(seed),
    )


def to_device(batch: Batch, env: Environment) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The model inputs and the targets of a batch, on this process's device."""
    moved = {k: v.to(env.device, non_blocking=True) for k, v in batch.items()}
    return moved, moved.pop("target")


def gather_in_order(outputs: torch.Tensor, size: int, env: Environment) -> np.ndarray:
    """Reassemble the outputs of `eval_loader` shards into split order (padding dropped)."""
    if env.distributed:
        shards = [torch.empty_like(outputs) for _ in range(env.world_size)]
        torch.distributed.all_gather(shards, outputs)
        outputs = torch.stack(shards, dim=1).flatten(0, 1)
    return outputs[:size].float().cpu().numpy()
