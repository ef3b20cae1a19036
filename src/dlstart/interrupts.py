"""Ctrl-C held off while a step that must not be cut in half runs (a rename, a rollback)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def held(deliver: bool = True) -> Iterator[None]:
    """Run the block whole: a SIGINT that arrives meanwhile raises KeyboardInterrupt after it
    (or is dropped, without `deliver`: in a rollback that an interrupt already started).
    Outside the main thread, where Python takes no signal handler, the block runs as is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGINT, remember)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received and deliver:
        raise KeyboardInterrupt
