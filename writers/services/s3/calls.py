"""S3's calls: PutObject, GetObject, and multipart uploads as follow-up calls.

CreateMultipartUpload -> UploadPart x N (in flight as the strategy allows, each retried
on its own) -> CompleteMultipartUpload, which alone acknowledges the record; a part
given up aborts the upload once no part is in flight any more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from writers.calls import Call, Settlement, WireRequest
from writers.errors import AwsCallError
from writers.protocols.rest_xml import S3_NAMESPACE, child_text, element, error_from, parse_xml, query_string
from writers.services.s3.addressing import S3Target
from writers.services.s3.content import Body
from writers.services.s3.service import SERVICE


def _check(status: int, body: bytes) -> None:
    error = error_from(status, body)
    if error is not None:
        raise error


def _etag(headers: Mapping[str, str]) -> str:
    value = headers.get("ETag") or headers.get("etag") or ""
    return value if isinstance(value, str) else str(value[0])


class S3Call(Call):
    """An S3 call on one object. `params` is made when asked for: a body is copied only then."""

    service = SERVICE

    def __init__(self, target: S3Target, key: str, items: int = 1) -> None:
        super().__init__(items, keys=(key,) if items else ())
        self.target = target
        self.key = key

    @property
    def params(self) -> dict[str, Any]:
        return {"Bucket": self.target.bucket.name, "Key": self.key, **self.extra_params()}

    def extra_params(self) -> dict[str, Any]:
        return {}

    def parse_wire(self, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        _check(status, body)
        return {"ETag": _etag(headers)}

    @property
    def request_bytes(self) -> int:
        return 0


class PutObject(S3Call):
    operation = "PutObject"
    api_method = "put_object"

    def __init__(self, target: S3Target, key: str, body: Body, on_ack: Callable[[str], object] | None = None) -> None:
        super().__init__(target, key)
        self.body = body
        self.on_ack = on_ack

    def extra_params(self) -> dict[str, Any]:
        return self.target.body_params(self.body)

    def build_wire(self) -> WireRequest:
        return self.target.request("PUT", self.key, body=self.body)

    @property
    def request_bytes(self) -> int:
        return self.body.length

    def settle(self, response: dict[str, Any]) -> Settlement:
        if self.on_ack is not None:
            self.on_ack(self.key)
        return Settlement(acked=1, acked_keys=(self.key,))


class GetObject(S3Call):
    operation = "GetObject"
    api_method = "get_object"
    is_read = True

    def build_wire(self) -> WireRequest:
        return self.target.request("GET", self.key)

    def parse_wire(self, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        _check(status, body)
        return {"Body": body, "ContentLength": len(body), "ETag": _etag(headers)}


class MultipartUpload:
    """One object sent in parts: the state its calls share (upload id, ETags, parts pending)."""

    def __init__(
        self, target: S3Target, key: str, bodies: Sequence[Body], on_ack: Callable[[str], object] | None = None
    ) -> None:
        self.target = target
        self.key = key
        self.bodies = bodies
        self.on_ack = on_ack
        self.upload_id = ""
        self.etags: dict[int, str] = {}
        self.pending = len(bodies)
        self.failed = False

    @property
    def size(self) -> int:
        return sum(body.length for body in self.bodies)

    def start(self, upload_id: str) -> list[Call]:
        self.upload_id = upload_id
        self.etags.clear()
        self.pending = len(self.bodies)
        self.failed = False
        return [UploadPart(self, number, body) for number, body in enumerate(self.bodies, 1)]

    def part_finished(self, number: int, etag: str | None) -> list[Call]:
        """A part was stored (etag) or given up (None); the last one decides what comes next."""
        self.pending -= 1
        if etag is None:
            self.failed = True
        else:
            self.etags[number] = etag
        if self.pending > 0:
            return []
        return [AbortMultipartUpload(self)] if self.failed else [CompleteMultipartUpload(self)]

    def parts(self) -> list[dict[str, Any]]:
        return [{"ETag": self.etags[n], "PartNumber": n} for n in sorted(self.etags)]


class UploadCall(S3Call):
    """A call on a multipart upload, after it was created."""

    def __init__(self, upload: MultipartUpload, items: int = 1) -> None:
        super().__init__(upload.target, upload.key, items)
        self.upload = upload

    def extra_params(self) -> dict[str, Any]:
        return {"UploadId": self.upload.upload_id}


class CreateMultipartUpload(S3Call):
    operation = "CreateMultipartUpload"
    api_method = "create_multipart_upload"

    def __init__(self, upload: MultipartUpload) -> None:
        super().__init__(upload.target, upload.key)
        self.upload = upload

    def build_wire(self) -> WireRequest:
        return self.target.request("POST", self.key, query_string([("uploads", None)]))

    def parse_wire(self, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        _check(status, body)
        root = parse_xml(body)
        upload_id = child_text(root, "UploadId") if root is not None else ""
        if root is None or not upload_id:
            raise AwsCallError.from_response(500, "MalformedResponse", "no UploadId in the answer")
        return {"Bucket": child_text(root, "Bucket"), "Key": child_text(root, "Key"), "UploadId": upload_id}

    def settle(self, response: dict[str, Any]) -> Settlement:
        return Settlement(acked=0, next_calls=self.upload.start(str(response["UploadId"])))


class UploadPart(UploadCall):
    operation = "UploadPart"
    api_method = "upload_part"

    def __init__(self, upload: MultipartUpload, number: int, body: Body) -> None:
        super().__init__(upload)
        self.number = number
        self.body = body

    def extra_params(self) -> dict[str, Any]:
        return {"UploadId": self.upload.upload_id, "PartNumber": self.number, **self.target.body_params(self.body)}

    def build_wire(self) -> WireRequest:
        query = query_string([("partNumber", str(self.number)), ("uploadId", self.upload.upload_id)])
        return self.target.request("PUT", self.key, query, body=self.body)

    @property
    def request_bytes(self) -> int:
        return self.body.length

    def settle(self, response: dict[str, Any]) -> Settlement:
        return Settlement(acked=0, next_calls=self.upload.part_finished(self.number, str(response["ETag"])))

    def abandon(self) -> list[Call]:
        return self.upload.part_finished(self.number, None)


class CompleteMultipartUpload(UploadCall):
    operation = "CompleteMultipartUpload"
    api_method = "complete_multipart_upload"

    def extra_params(self) -> dict[str, Any]:
        return {"UploadId": self.upload.upload_id, "MultipartUpload": {"Parts": self.upload.parts()}}

    def build_wire(self) -> WireRequest:
        parts = "".join(
            element("Part", element("ETag", text=p["ETag"]), element("PartNumber", text=str(p["PartNumber"])))
            for p in self.upload.parts()
        )
        document = f'<CompleteMultipartUpload xmlns="{S3_NAMESPACE}">{parts}</CompleteMultipartUpload>'
        query = query_string([("uploadId", self.upload.upload_id)])
        return self.target.request("POST", self.key, query, content=document.encode())

    def parse_wire(self, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        _check(status, body)  # S3 may answer 200 and still fail: the document says
        root = parse_xml(body)
        return {"ETag": child_text(root, "ETag") if root is not None else ""}

    @property
    def request_bytes(self) -> int:
        return len(self.wire().body)

    def settle(self, response: dict[str, Any]) -> Settlement:
        if self.upload.on_ack is not None:
            self.upload.on_ack(self.key)
        return Settlement(acked=1, acked_keys=(self.key,))

    def abandon(self) -> list[Call]:
        return [AbortMultipartUpload(self.upload)]


class AbortMultipartUpload(UploadCall):
    operation = "AbortMultipartUpload"
    api_method = "abort_multipart_upload"

    def __init__(self, upload: MultipartUpload) -> None:
        super().__init__(upload, items=0)  # carries no record: the record was given up already

    def build_wire(self) -> WireRequest:
        return self.target.request("DELETE", self.key, query_string([("uploadId", self.upload.upload_id)]))

    def settle(self, response: dict[str, Any]) -> Settlement:
        return Settlement(acked=0)
