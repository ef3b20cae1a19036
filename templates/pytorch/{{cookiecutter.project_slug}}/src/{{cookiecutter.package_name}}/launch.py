"""torchrun for training that can be preempted: takes torchrun's arguments, exits 75 when preempted.

    python -m {{ cookiecutter.package_name }}.launch --standalone --nproc_per_node=4 \\
        --max-restarts=3 \\
        -m {{ cookiecutter.package_name }}.train [key=value ...]

torchrun restarts its workers when one exits with a non-zero status (`--max-restarts`): right
after a crash, wrong after a preemption, when the job must stop and be started again later; and
torchrun exits 1 whatever status its workers gave. So under this launcher a stop signal
(SIGTERM, SIGUSR1) goes to the training processes, not to torchrun; they checkpoint the step
they agree on, record the preemption in a file this launcher names (`PREEMPTED_MARKER`) and exit
0, which torchrun does not restart; this launcher then exits 75, for the job to be requeued.
A crashed worker is restarted by torchrun as before.

Exit status: torchrun's, or 75 when training was preempted, or when a stop signal reached a run
that then failed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType

from {{ cookiecutter.package_name }}.preemption import EXIT_PREEMPTED

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
MARKER_VARIABLE = "PREEMPTED_MARKER"
# torchrun handles these itself (it stops its workers); the stop signals are left to this launcher.
TORCHRUN_SIGNALS = "SIGINT,SIGHUP,SIGQUIT"


def run(torchrun_args: list[str]) -> int:
    """Run torchrun with these arguments until it exits; the exit status described above."""
    with tempfile.TemporaryDirectory(prefix="launch-") as folder:
        marker = Path(folder) / "preempted"
        env = {
            **os.environ,
            MARKER_VARIABLE: str(marker),
            "TORCHELASTIC_SIGNALS_TO_HANDLE": TORCHRUN_SIGNALS,
        }
        # The stop signals are ignored in torchrun (inherited; training installs its own
        # handlers). Ctrl-C reaches torchrun from the terminal, and it stops its workers itself.
        ignored = (*STOP_SIGNALS, signal.SIGINT)
        previous = {number: signal.signal(number, signal.SIG_IGN) for number in ignored}
        received: list[int] = []
        try:
            torchrun = subprocess.Popen(
                [sys.executable, "-m", "torch.distributed.run", *torchrun_args], env=env
            )

            def forward(number: int, frame: FrameType | None) -> None:
                received.append(number)
                for pid in _children(torchrun.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, number)

            for number in STOP_SIGNALS:
                signal.signal(number, forward)
            status = torchrun.wait()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        if marker.exists() or (received and status != 0):
            return EXIT_PREEMPTED
        return 128 - status if status < 0 else status


def preempted_status() -> int:
    """The exit status of a preempted training process: 75, or under this launcher 0 with the
    preemption recorded in its marker file (torchrun would restart a process that exits 75)."""
    marker = os.environ.get(MARKER_VARIABLE)
    if marker is None:
        return EXIT_PREEMPTED
    Path(marker).touch()
    return 0


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (torchrun's workers), from /proc (Linux)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # "pid (command) state ppid ...": the command may hold spaces and parentheses.
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                children.append(int(stat.parent.name))
    return children


def main() -> None:
    raise SystemExit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
