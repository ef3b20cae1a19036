"""What one request may hold, checked on the bytes actually read, before anything is decoded.

Each rejection is a `Rejected` whose status (413 or 422) and detail name the field and the limit.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 8
MAX_INSTANCES = 64
MAX_IMAGE_PIXELS = 4096 * 4096


class Rejected(Exception):
    """A request the server refuses; `status` and `detail` are what the client receives."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused with 413 as soon as more than `limit` bytes arrive (chunked or not)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise Rejected(413, f"body: {length} bytes, at most {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejected(413, f"body: more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """JSON with finite numbers only and at most MAX_JSON_DEPTH levels of nesting."""
    try:
        value = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise Rejected(422, f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise Rejected(422, f"body: not valid JSON ({error})") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise Rejected(422, f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def instances_of(body: Any) -> list[Any]:
    """The `instances` list of `{"instances": [...]}`: 1 to MAX_INSTANCES items."""
    if not isinstance(body, dict) or "instances" not in body:
        raise Rejected(422, 'body: expected an object {"instances": [...]}')
    if extra := [key for key in body if key != "instances"]:
        raise Rejected(422, f"body: unknown field {extra[0]!r} (only 'instances')")
    instances = body["instances"]
    if not isinstance(instances, list) or not instances:
        raise Rejected(422, "instances: expected a non-empty list")
    if len(instances) > MAX_INSTANCES:
        raise Rejected(422, f"instances: {len(instances)} given, at most {MAX_INSTANCES}")
    return instances


def _reject_constant(name: str) -> None:
    raise Rejected(422, f"body: {name} is not a number JSON allows (finite numbers only)")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise Rejected(422, f"body: number {text[:32]} is out of range (finite numbers only)")
    return number


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest
