"""The training recipe, the same in every framework this template exists for.

The constants live here rather than in `model.py` (which is yours once generated), so a recipe
fix reaches an existing project through `dlstart update`. Conventions are PyTorch's: the batch
norm momentum is the weight of the current batch in the running statistics (Keras and Flax take
`1 - BATCH_NORM_MOMENTUM`), and the running variance takes the unbiased batch variance (times
n / (n - 1), n the values per channel), while training normalises with the biased one.
"""

from __future__ import annotations

import math

BATCH_NORM_MOMENTUM = 0.1
BATCH_NORM_EPSILON = 1e-5
LAYER_NORM_EPSILON = 1e-5
ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8
SGD_MOMENTUM = 0.9  # Nesterov
EMBEDDING_STD = 0.02  # text token and position embeddings: normal(0, 0.02), the padding row 0
AUGMENT_FLIP_PROBABILITY = 0.5
AUGMENT_PAD_FRACTION = 0.125  # random crops of the image zero-padded by image_size // 8 pixels


def warmup_steps(total_steps: int, warmup_fraction: float, max_warmup_steps: int) -> int:
    """Warmup fits the run: `warmup_fraction` of its steps, at most `max_warmup_steps`."""
    return min(max_warmup_steps, int(warmup_fraction * total_steps))


def learning_rate(step: int, peak: float, warmup: int, total_steps: int) -> float:
    """The rate of optimizer step `step` (0 for the first): linear warmup, then cosine to 0."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def batch_norm_momentum(step: int) -> float:
    """The weight of the batch of optimizer step `step` (0 for the first) in the batch norm
    running statistics: an even average over the first steps, then BATCH_NORM_MOMENTUM. A short
    run's statistics are then its own, not mostly the initial mean 0 and variance 1 (which left a
    2-epoch run on the sample data at chance in validation)."""
    return max(BATCH_NORM_MOMENTUM, 1.0 / (step + 1))


def augment_pad(image_size: int) -> int:
    return int(image_size * AUGMENT_PAD_FRACTION)
