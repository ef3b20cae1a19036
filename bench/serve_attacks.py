"""The hostile requests of issue 13 against a running server: status, seconds, server memory.

    python bench/serve_attacks.py --url http://127.0.0.1:8000 [--data data/sample]

Run it with a Python that has Pillow, such as the served project's environment.

Each attack is sent to the server (loopback only); the table shows the status it got, the time
to answer, and the server's resident memory (process_resident_memory_bytes of /metrics) after
it. Attacks that do not apply to the server's task (from /health) are skipped. With --data (the
project's sample data), text and tabular attacks start from a valid instance of its val.csv:
a feature of 1e308, an unknown category, a text over the length limit.
"""

from __future__ import annotations

import argparse
import base64
import csv
import http.client
import io
import json
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PIL import Image

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def request(host: str, port: int, body: bytes | Iterator[bytes], path: str = "/predict") -> int:
    connection = http.client.HTTPConnection(host, port, timeout=120)
    try:
        headers = {"content-type": "application/json"}
        chunked = not isinstance(body, bytes)
        connection.request("POST", path, body, headers, encode_chunked=chunked)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0  # the server closed the connection
    finally:
        connection.close()


def memory_mb(host: str, port: int) -> float:
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    value = next(
        line.split()[1]
        for line in text.splitlines()
        if line.startswith("process_resident_memory_bytes ")
    )
    return float(value) / 2**20


def png(width: int, height: int, corrupt: bool = False) -> str:
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    if corrupt:
        data[len(data) // 2] ^= 0xFF
    return base64.b64encode(data).decode()


def png_header_only(width: int, height: int) -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    data += chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    return base64.b64encode(data).decode()


def instances(items: list) -> bytes:
    return json.dumps({"instances": items}).encode()


def chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b" " * size


def attacks(
    task: str, valid: dict[str, Any] | None = None
) -> dict[str, Callable[[], bytes | Iterator[bytes]]]:
    common = {
        "NaN in a JSON number": lambda: b'{"instances": [NaN]}',
        "Infinity in a JSON number": lambda: b'{"instances": [Infinity]}',
        "1e400 in a JSON number": lambda: b'{"instances": [1e400]}',
        "JSON nested 100000 deep": lambda: (
            b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        ),
        "50 MB body, chunked": lambda: chunks(50 << 20),
        "10000 instances": lambda: instances([{}] * 10_000),
    }
    if task == "image":
        return {
            **common,
            "PNG with one flipped byte": lambda: instances([png(64, 64, corrupt=True)]),
            "20000x20000 PNG header": lambda: instances([png_header_only(20_000, 20_000)]),
            "12000x12000 PNG": lambda: instances([png(12_000, 12_000)]),
        }
    if task == "text":
        return {
            **common,
            "empty string": lambda: instances([{"text": ""}]),
            "text of 1 MB": lambda: instances([{"text": "word " * 200_000}]),
        }
    if task == "tabular" and valid is not None:
        number = next(k for k, v in valid.items() if isinstance(v, float))
        category = next(k for k, v in valid.items() if isinstance(v, str))
        return {
            **common,
            f"{number} = 1e308": lambda: instances([{**valid, number: 1e308}]),
            f'{category} = "mars" (unknown category)': lambda: instances(
                [{**valid, category: "mars"}]
            ),
        }
    return common


def valid_instance(data: Path, task: str) -> dict[str, Any] | None:
    """The first row of the sample val.csv as a /predict instance (text and tabular)."""
    if task == "image":
        return None
    with (data / "val.csv").open(newline="") as file:
        row = next(csv.DictReader(file))
    row.pop("target", None)
    return {key: _number_or_text(value) for key, value in row.items()}


def _number_or_text(value: str) -> Any:
    try:
        return float(value)
    except ValueError:
        return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--data", type=Path, help="the project's sample data (text, tabular)")
    args = parser.parse_args()
    parts = urlsplit(args.url)
    host, port = parts.hostname or "", parts.port or 80
    if host not in LOOPBACK:
        raise SystemExit(f"error: --url {args.url}: loopback only")
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.request("GET", "/health")
    health = json.loads(connection.getresponse().read())
    connection.close()
    print(f"task {health['task']}; server memory {memory_mb(host, port):.0f} MB at start")
    print("| attack | status | seconds | server memory after, MB |")
    print("|---|---|---|---|")
    valid = valid_instance(args.data, health["task"]) if args.data else None
    if valid is not None:
        status = request(host, port, instances([valid]))
        print(f"| a valid instance (control) | {status} | | |")
    for name, make in attacks(health["task"], valid).items():
        body = make()
        start = time.perf_counter()
        status = request(host, port, body)
        seconds = time.perf_counter() - start
        print(f"| {name} | {status} | {seconds:.3f} | {memory_mb(host, port):.0f} |")
    if health["task"] == "image":
        body = instances([png(12_000, 12_000)])
        statuses: list[int] = []
        threads = [
            threading.Thread(target=lambda: statuses.append(request(host, port, body)))
            for _ in range(4)
        ]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
        memory = memory_mb(host, port)
        print(
            f"| 4 x 12000x12000 PNG at once | {sorted(statuses)} | {seconds:.3f} | {memory:.0f} |"
        )


if __name__ == "__main__":
    main()
