"""The recipe's optimizers and learning-rate schedule in Keras, step for step PyTorch's.

- `WarmupCosine`: `recipe.learning_rate` as a Keras schedule (optimizer step 0 is the first).
- `AdamW`: Keras' AdamW with the recipe's betas and epsilon, the epsilon added to the
  bias-corrected root of the second moment as PyTorch and Optax do (Keras adds it before the
  correction), and decoupled weight decay on kernels and embeddings only (ndim >= 2).
- `NesterovSGD`: PyTorch's SGD with Nesterov momentum: the learning rate scales the update, not
  the momentum buffer, and weight decay is added to the gradient (kernels and embeddings only).

Gradients are clipped to the global norm `optim.grad_clip` before either update. Both take
per-variable learning-rate factors (`scale_variables`): a pretrained backbone learns slower than
its new head, and not at all during a frozen warm start.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from {{ cookiecutter.package_name }} import recipe
from {{ cookiecutter.package_name }}.config import OptimConfig


@keras.saving.register_keras_serializable(package="{{ cookiecutter.package_name }}")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup over `warmup` steps to `peak`, then cosine decay to 0 at `total_steps`."""

    def __init__(self, peak: float, warmup: int, total_steps: int) -> None:
        self.peak, self.warmup, self.total_steps = peak, warmup, total_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warming = self.peak * (step + 1.0) / max(self.warmup, 1)
        # 0.5 * (1 + cos(pi * progress)) written as sin^2 of the remaining fraction: exact in
        # float32 to 1e-7 relative even as the rate approaches 0
        decay_steps = max(1, self.total_steps - self.warmup)
        remaining = ops.clip((self.warmup + decay_steps - step) / decay_steps, 0.0, 1.0)
        decaying = self.peak * ops.square(ops.sin(0.5 * math.pi * remaining))
        return ops.where(step < self.warmup, warming, decaying)

    def get_config(self) -> dict:
        return {"peak": self.peak, "warmup": self.warmup, "total_steps": self.total_steps}


def decays(variable: keras.Variable) -> bool:
    """Weight decay applies to kernels and embeddings, not to biases and norm scales."""
    return len(variable.shape) >= 2


class VariableRates:
    """Learning-rate factors of some variables: `scale`, and 0 before optimizer step
    `frozen_until`; the others learn at the schedule's rate."""

    scaled: frozenset[int] = frozenset()
    scale, frozen_until = 1.0, 0

    def scale_variables(
        self, variables: list[keras.Variable], scale: float, frozen_until: int
    ) -> None:
        self.scaled = frozenset(self._var_key(v) for v in variables)
        self.scale, self.frozen_until = scale, frozen_until

    def rate(self, learning_rate, variable: keras.Variable):
        lr = ops.cast(learning_rate, variable.dtype)
        if self._var_key(variable) not in self.scaled:
            return lr
        frozen = self.iterations < self.frozen_until
        return ops.where(frozen, ops.zeros_like(lr), lr * ops.cast(self.scale, variable.dtype))


@keras.saving.register_keras_serializable(package="{{ cookiecutter.package_name }}")
class AdamW(VariableRates, keras.optimizers.AdamW):
    def _use_weight_decay(self, variable: keras.Variable) -> bool:
        return decays(variable)

    def _apply_weight_decay(self, variables: list[keras.Variable]) -> None:
        """In `update_step`, at each variable's own rate."""

    def update_step(self, gradient, variable, learning_rate) -> None:
        lr = self.rate(learning_rate, variable)
        gradient = ops.cast(gradient, variable.dtype)
        if self.weight_decay and decays(variable):
            self.assign_sub(variable, variable * ops.cast(self.weight_decay, variable.dtype) * lr)
        step = ops.cast(self.iterations + 1, variable.dtype)
        first_correction = 1 - ops.power(ops.cast(self.beta_1, variable.dtype), step)
        second_correction = 1 - ops.power(ops.cast(self.beta_2, variable.dtype), step)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, (gradient - m) * (1 - self.beta_1))
        self.assign_add(v, (ops.square(gradient) - v) * (1 - self.beta_2))
        denominator = ops.sqrt(v / second_correction) + self.epsilon
        self.assign_sub(variable, lr / first_correction * m / denominator)


@keras.saving.register_keras_serializable(package="{{ cookiecutter.package_name }}")
class NesterovSGD(VariableRates, keras.optimizers.Optimizer):
    def __init__(self, learning_rate, momentum: float, l2: float, **kwargs) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum, self.l2 = momentum, l2

    def build(self, variables: list[keras.Variable]) -> None:
        if self.built:
            return
        super().build(variables)
        self._buffers = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, learning_rate) -> None:
        lr = self.rate(learning_rate, variable)
        gradient = ops.cast(gradient, variable.dtype)
        if self.l2 and decays(variable):
            gradient = gradient + self.l2 * variable
        buffer = self._buffers[self._get_variable_index(variable)]
        self.assign(buffer, self.momentum * buffer + gradient)
        self.assign_sub(variable, lr * (gradient + self.momentum * buffer))

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "l2": self.l2}


def build_optimizer(
    config: OptimConfig, total_steps: int, precision: str
) -> keras.optimizers.Optimizer:
    warmup = recipe.warmup_steps(total_steps, config.warmup_fraction, config.warmup_steps)
    options = {
        "learning_rate": WarmupCosine(config.lr, warmup, total_steps),
        "global_clipnorm": config.grad_clip or None,
    }
    if config.name == "adamw":
        beta_1, beta_2 = recipe.ADAM_BETAS
        optimizer = AdamW(
            weight_decay=config.weight_decay,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=recipe.ADAM_EPSILON,
            **options,
        )
    else:
        optimizer = NesterovSGD(momentum=recipe.SGD_MOMENTUM, l2=config.weight_decay, **options)
    if precision == "fp16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
