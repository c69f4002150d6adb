"""AWS's JSON protocol: POST / with X-Amz-Target and a JSON body (DynamoDB, SQS, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from writers.calls import Call, WireRequest
from writers.errors import AwsCallError

JSON_1_0 = "application/x-amz-json-1.0"
JSON_1_1 = "application/x-amz-json-1.1"


def json_request(target: str, params: dict[str, Any], content_type: str = JSON_1_0) -> WireRequest:
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


class JsonCall(Call):
    """A call of a JSON-protocol service: its parameters are one dict, sent as the body."""

    target_prefix: ClassVar[str]  # "DynamoDB_20120810.": the X-Amz-Target is this + the operation
    content_type: ClassVar[str] = JSON_1_0

    def __init__(self, params: dict[str, Any], items: int = 1, *, keys: tuple[str, ...] = (), attempt: int = 1) -> None:
        super().__init__(items, keys=keys, attempt=attempt)
        self._params = params

    @property
    def params(self) -> dict[str, Any]:
        return self._params

    def build_wire(self) -> WireRequest:
        return json_request(self.target_prefix + self.operation, self._params, self.content_type)

    def parse_wire(self, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        return json_response(status, headers, body)
