"""tf.data input pipelines over the shared readers.

Training, per input pipeline (one per worker):
{% if cookiecutter.task == "image" %}
    (index, file path) -> shard -> decode + resize (parallel) -> cache -> shuffle -> repeat
    -> number -> skip (resume) -> random flip and crop (parallel) -> batch (drop_remainder)
    -> prefetch

Caching comes before the augmentation, so each epoch sees fresh augmentations of data decoded
once. An example's flip and crop are drawn statelessly from (seed, epoch, index in the split)
alone, as `data.augment` does for the other frameworks: parallel calls and restarts cannot
change them.
{% else %}
    encoded arrays -> shard -> cache -> shuffle -> repeat -> skip (resume)
    -> batch (drop_remainder) -> prefetch
{% endif %}
The shuffle is seeded and the stream repeats without epoch gaps, so a resumed run skips exactly
the examples it has already seen and sees the same batches as a run that was never stopped.
Full batches only: XLA and TPUs need static shapes. Evaluation batches keep the remainder and
are neither shuffled nor augmented.
"""

from __future__ import annotations
{%- if cookiecutter.task == "image" %}

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
{%- endif %}

{% if cookiecutter.task == "image" -%}
import numpy as np
{% endif -%}
import tensorflow as tf

{% if cookiecutter.task == "image" -%}
from {{ cookiecutter.package_name }} import recipe
{% endif -%}
from {{ cookiecutter.package_name }}.config import Config, DataConfig
from {{ cookiecutter.package_name }}.data import Example, Preprocessor
{%- if cookiecutter.task == "image" %}
from {{ cookiecutter.package_name }}.data.image import load_image
from {{ cookiecutter.package_name }}.errors import DataError
{%- endif %}

SHUFFLE_BUFFER = 10_000
{%- if cookiecutter.task == "image" %}
UNREADABLE = "unreadable image"
{%- endif %}


def training_dataset(
    examples: list[Example],
    preprocessor: Preprocessor,
    config: Config,
    context: tf.distribute.InputContext,
    start_step: int = 0,
) -> tf.data.Dataset:
    """Batches for one replica; pass to `strategy.distribute_datasets_from_function`."""
    per_pipeline = config.data.batch_size // context.num_input_pipelines
{%- if cookiecutter.task == "image" %}
    shard = range(context.input_pipeline_id, len(examples), context.num_input_pipelines)
    dataset = _examples(examples, preprocessor).enumerate()
    dataset = dataset.shard(context.num_input_pipelines, context.input_pipeline_id)
    decode = _decoder(preprocessor.image_size)
    dataset = dataset.map(
        lambda index, example: (index, *decode(*example)), _parallel(config.data)
    ).cache()
{%- else %}
    dataset = _examples(examples, preprocessor)
    dataset = dataset.shard(context.num_input_pipelines, context.input_pipeline_id).cache()
{%- endif %}
    dataset = dataset.shuffle(
        min(len(examples), SHUFFLE_BUFFER), seed=config.seed, reshuffle_each_iteration=True
    )
{%- if cookiecutter.task == "image" %}
    dataset = dataset.repeat().enumerate().skip(start_step * per_pipeline)
    if config.data.augment:
        augment = _augmenter(config.seed, epoch_size=len(shard))
        dataset = dataset.map(augment, _parallel(config.data))
    else:
        dataset = dataset.map(lambda position, example: example[1:])
{%- else %}
    dataset = dataset.repeat().skip(start_step * per_pipeline)
{%- endif %}
    batch_size = context.get_per_replica_batch_size(config.data.batch_size)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return _finish(dataset, config.data)


def evaluation_dataset(
    examples: list[Example], preprocessor: Preprocessor, config: DataConfig
) -> tf.data.Dataset:
    """Global batches in file order, the last one partial."""
    dataset = _examples(examples, preprocessor)
{%- if cookiecutter.task == "image" %}
    dataset = dataset.map(_decoder(preprocessor.image_size), _parallel(config))
{%- endif %}
    return _finish(dataset.batch(config.batch_size), config)


def _finish(dataset: tf.data.Dataset, config: DataConfig) -> tf.data.Dataset:
    options = tf.data.Options()
    if config.num_workers > 0:
        options.threading.private_threadpool_size = config.num_workers
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)


def _parallel(config: DataConfig) -> int | None:
    return tf.data.AUTOTUNE if config.num_workers > 0 else None
{%- if cookiecutter.task == "image" %}


def _examples(examples: list[Example], preprocessor: Preprocessor) -> tf.data.Dataset:
    paths = np.array([str(e.image) for e in examples])
    return tf.data.Dataset.from_tensor_slices((paths, preprocessor.encode_targets(examples)))


def _decoder(size: int):
    """Decode with the same Pillow code serving uses, so training and serving see equal pixels."""

    def read(path: bytes) -> tuple[np.ndarray, bool]:
        # A failure comes back as a flag: an exception raised in here would reach the user as
        # TensorFlow's log of a Python traceback. `data_errors` names the file instead.
        try:
            return load_image(Example(Path(path.decode())), size), True
        except DataError:
            return np.zeros((size, size, 3), np.float32), False

    def decode(path: tf.Tensor, label: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        image, ok = tf.numpy_function(read, [path], (tf.float32, tf.bool), stateful=False)
        with tf.control_dependencies([tf.debugging.Assert(ok, [UNREADABLE, path])]):
            image = tf.ensure_shape(image, (size, size, 3))
        return {"image": image}, label

    return decode


def _augmenter(seed: int, epoch_size: int):
    """A random flip and a random crop of the zero-padded image (`recipe`), drawn from
    (seed, epoch, index) alone; `position` counts the examples of the repeated stream."""

    def augment(position: tf.Tensor, example: tuple) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        index, inputs, label = example
        key = tf.random.experimental.stateless_fold_in([seed, 0], position // epoch_size)
        key = tf.random.experimental.stateless_fold_in(key, index)
        flip_key, crop_key = tf.unstack(tf.random.experimental.stateless_split(key, 2))
        image = inputs["image"]
        size, pad = image.shape[0], recipe.augment_pad(image.shape[0])
        flip = tf.random.stateless_uniform([], flip_key) < recipe.AUGMENT_FLIP_PROBABILITY
        image = tf.where(flip, tf.reverse(image, axis=[1]), image)
        image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
        return {"image": tf.image.stateless_random_crop(image, (size, size, 3), crop_key)}, label

    return augment


@contextmanager
def data_errors() -> Iterator[None]:
    """Stop with the `DataError` of an image that failed to decode inside tf.data."""
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        found = re.search(rf"\[{UNREADABLE}\] \[(.+?)\]", error.message)
        if found is None:
            raise
        load_image(Example(Path(found[1])), size=1)  # raises the DataError naming the file
        raise
{%- else %}


def _examples(examples: list[Example], preprocessor: Preprocessor) -> tf.data.Dataset:
    """The split encoded up front: tokenizing or encoding a table is cheap next to training."""
    targets = preprocessor.encode_targets(examples)
    return tf.data.Dataset.from_tensor_slices((preprocessor.encode(examples), targets))
{%- endif %}
