"""The PyTorch recipe-parity probe: the project's own model, optimizer, schedule, loss and
training step (`train.TrainStep`) driven on given weights and batches. See protocol.py."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import protocol
import torch

Arrays = protocol.Arrays


def project_module(name: str) -> ModuleType:
    """`<package>.<name>` of the project in the working directory (its one package in src/)."""
    (package,) = [p.name for p in Path("src").iterdir() if (p / "__init__.py").is_file()]
    return importlib.import_module(f"{package}.{name}")


class PyTorchProbe:
    def __init__(self) -> None:
        self.config = project_module("config")
        self.data = project_module("data")
        self.model = project_module("model")
        self.train_module = project_module("train")
        self.checkpoint = project_module("checkpoint")
        self.devices = project_module("devices")

    def _setup(self, overrides: list[str]) -> tuple[object, object]:
        config = self.config.load_config(overrides=overrides)
        train_split = self.data.load_split(config.data, "train")
        return config, self.data.Preprocessor.fit(train_split, config.data)

    def _build(self, overrides: list[str], seed: int = 0) -> tuple[object, object, torch.nn.Module]:
        config, preprocessor = self._setup(overrides)
        torch.manual_seed(seed)
        return config, preprocessor, self.model.build_model(config.model, preprocessor)

    def _weights(self, model: torch.nn.Module) -> Arrays:
        return {
            name: tensor.detach().cpu().numpy().copy()
            for name, tensor in model.state_dict().items()
            if not name.endswith("num_batches_tracked")
        }

    def shapes(self, task: str) -> dict[str, list[int]]:
        _, _, model = self._build([])
        return {name: list(array.shape) for name, array in self._weights(model).items()}

    def init_stats(self, task: str, seed: int) -> dict[str, list[float]]:
        _, _, model = self._build([], seed)
        return protocol.statistics(self._weights(model))

    def batches(self, task: str, steps: int, batch_size: int) -> list[Arrays]:
        config, preprocessor = self._setup([])
        examples = self.data.load_split(config.data, "train")
        return protocol.encode_batches(examples, preprocessor, steps, batch_size)

    def train(
        self, task: str, weights: Arrays, batches: list[Arrays], steps: int, overrides: list[str]
    ) -> tuple[list[float], list[float], Arrays]:
        fixed = ["model.dropout=0", "trainer.precision=fp32", f"trainer.max_steps={steps}"]
        config, preprocessor, model = self._build([*fixed, *overrides])
        state = model.state_dict()
        expected = {name for name in state if not name.endswith("num_batches_tracked")}
        if set(weights) != expected:
            raise SystemExit(f"weights do not match the model: {sorted(set(weights) ^ expected)}")
        model.load_state_dict({**state, **{k: torch.from_numpy(v) for k, v in weights.items()}})
        optimizer = self.train_module.make_optimizer(model, config.optim)
        train_step = self.train_module.TrainStep(
            self.checkpoint.TrainingState(model, optimizer, torch.amp.GradScaler(enabled=False)),
            forward=model,
            loss_function=self.train_module.make_loss_function(preprocessor.objective),
            schedule=self.train_module.make_schedule(config.optim, steps),
            grad_clip=config.optim.grad_clip,
            precision="fp32",
            env=self.devices.Environment(torch.device("cpu")),
        )
        model.train()
        losses, lrs = [], []
        for step, batch in enumerate(batches[:steps]):
            inputs = {k: torch.from_numpy(v) for k, v in batch.items() if k != "target"}
            loss = train_step(step, inputs, torch.from_numpy(batch["target"]))
            losses.append(loss.item())
            lrs.append(optimizer.param_groups[0]["lr"])
        return losses, lrs, self._weights(model)


if __name__ == "__main__":
    protocol.main(PyTorchProbe())
