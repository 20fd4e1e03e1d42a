"""Reading a request body safely: content type first, then at most the configured number of bytes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request

from gateways.errors import BadRequestError, PayloadTooLargeError, RequestTimeoutError, UnsupportedMediaTypeError


def require_content_type(request: Request, expected: str, *, allow_missing: bool = False) -> None:
    content_type = request.headers.get("content-type")
    if content_type is None and allow_missing:
        return
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != expected:
        raise UnsupportedMediaTypeError(f"content type must be {expected}, got {media_type or 'none'}")


def require_json_content_type(request: Request, *, allow_missing: bool = False) -> None:
    require_content_type(request, "application/json", allow_missing=allow_missing)


async def read_limited(request: Request, limit: int, timeout_s: float) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed ``limit`` bytes (before reading it all),
    and with 408 when it has not fully arrived within ``timeout_s`` (a slow or abandoned client)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"body of {declared} bytes exceeds the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(f"body exceeds the limit of {limit} bytes")
                chunks.append(chunk)
    except TimeoutError as exc:
        raise RequestTimeoutError(f"body not received within {timeout_s:g}s") from exc
    return b"".join(chunks)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequestError(f"body is not valid JSON: {exc.__class__.__name__}") from exc
    if not isinstance(value, dict):
        raise BadRequestError("body must be a JSON object")
    return value
