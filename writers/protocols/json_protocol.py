"""AWS's JSON protocol (DynamoDB, SQS): POST / with X-Amz-Target and a JSON body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from writers.calls import WireRequest
from writers.errors import AwsCallError


def json_request(target: str, params: dict[str, Any], content_type: str = "application/x-amz-json-1.0") -> WireRequest:
    return WireRequest(
        method="POST",
        path="/",
        query="",
        headers={"Content-Type": content_type, "X-Amz-Target": target},
        body=orjson.dumps(params),
    )


def json_response(status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The decoded answer, or the error it carries, classified."""
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        data = None
    if 200 <= status < 300 and isinstance(data, dict):
        return data
    if not isinstance(data, dict):
        raise AwsCallError.from_response(status, f"HTTP{status}", body[:120].decode("utf-8", "replace"))
    code = str(data.get("__type") or data.get("code") or headers.get("x-amzn-query-error", "") or f"HTTP{status}")
    message = str(data.get("message") or data.get("Message") or "")
    raise AwsCallError.from_response(status, code, message)
