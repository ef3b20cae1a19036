"""Dynamic batching: concurrent requests share one model call.

A request's encoded inputs wait in a bounded queue. One task takes the oldest, then whatever
else arrives within `max_wait` seconds, up to `max_batch_size` instances, and runs the model
once on all of them in its own thread, so requests keep arriving and queueing meanwhile: the
busier the server, the larger the batches. It waits only for requests already on their way
(reading or decoding their body): a lone request goes straight to the model.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

Inputs = dict[str, np.ndarray]


class Overloaded(Exception):
    """The queue is full: the client should retry later (503)."""


@dataclass
class _Job:
    inputs: Inputs
    size: int
    future: asyncio.Future[np.ndarray]


class Batcher:
    def __init__(
        self,
        predict: Callable[[Inputs], np.ndarray],
        max_batch_size: int,
        max_wait: float,
        queue_size: int,
        on_batch: Callable[[int], None] = lambda size: None,
    ) -> None:
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self.queue_size = queue_size
        self._on_batch = on_batch
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="model")
        self._queue: asyncio.Queue[_Job] | None = None
        self._changed: asyncio.Event | None = None  # a job queued, or an arrival given up
        self._arriving = 0  # requests preparing their inputs
        self._task: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        return self._queue.qsize() if self._queue else 0

    async def start(self) -> None:
        self._queue = asyncio.Queue(self.queue_size)
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown()

    async def run_model(self, inputs: Inputs) -> np.ndarray:
        """Run the model directly, outside the queue (warm-up)."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._predict, inputs
        )

    async def predict(self, inputs: Awaitable[Inputs]) -> np.ndarray:
        """The model's outputs for `inputs` (awaited here: while they are being prepared, a
        batch being collected waits for them), computed in a batch with other requests."""
        assert self._queue is not None and self._changed is not None, "Batcher.start() first"
        self._arriving += 1
        try:
            ready = await inputs
        finally:
            self._arriving -= 1
            self._changed.set()
        future = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Job(ready, len(next(iter(ready.values()))), future))
        except asyncio.QueueFull:
            raise Overloaded from None
        return await future

    async def _run(self) -> None:
        assert self._queue is not None and self._changed is not None
        loop = asyncio.get_running_loop()
        held: _Job | None = None
        while True:
            first = held or await self._queue.get()
            batch, size, held = [first], first.size, None
            deadline = loop.time() + self.max_wait
            while size < self.max_batch_size:
                if self._queue.empty():
                    remaining = deadline - loop.time()
                    if not self._arriving or remaining <= 0:
                        break
                    self._changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), remaining)
                    continue
                job = self._queue.get_nowait()
                if size + job.size > self.max_batch_size:
                    held = job
                    break
                batch.append(job)
                size += job.size
            await self._call([job for job in batch if not job.future.done()])

    async def _call(self, batch: list[_Job]) -> None:
        if not batch:
            return
        inputs = {
            name: np.concatenate([job.inputs[name] for job in batch]) for name in batch[0].inputs
        }
        try:
            outputs = await self.run_model(inputs)
        except Exception as error:  # the model failed: every request of the batch gets a 5xx
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(error)
            return
        self._on_batch(sum(job.size for job in batch))
        start = 0
        for job in batch:
            if not job.future.done():
                job.future.set_result(outputs[start : start + job.size])
            start += job.size
