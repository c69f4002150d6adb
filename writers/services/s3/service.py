"""What S3 is to a client: names, path-style addressing on custom endpoints, no
`Expect: 100-continue` on empty bodies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.utils import determine_content_length

from writers.calls import ServiceInfo


def _no_continue_for_empty_body(params: dict[str, Any], **_: Any) -> None:
    """botocore sends "Expect: 100-continue" with every PutObject/UploadPart body. A server that
    answers an empty body at once, without "100 Continue" (SeaweedFS does), leaves botocore's
    kept-alive connection parsing the next answer wrongly (it keeps the early answer's status
    line: a 10 s read timeout). This does what botocore's BOTO_EXPERIMENTAL__NO_EMPTY_CONTINUE
    does, for our clients only, without setting the variable for the whole process."""
    body = params.get("body")
    if "Expect" in params["headers"] and hasattr(body, "read") and determine_content_length(body) == 0:
        del params["headers"]["Expect"]


@dataclass(frozen=True)
class S3ServiceInfo(ServiceInfo):
    def boto3_config(self, endpoint_url: str | None) -> dict[str, Any]:
        # botocore would go virtual-hosted on a custom host name (bucket.minio:9000):
        # custom endpoints get path-style; AWS keeps botocore's own choice (virtual).
        return {"s3": {"addressing_style": "path"}} if endpoint_url else {}

    def configure_client(self, client: Any) -> None:
        # After botocore's own before-call handler, which adds the header.
        client.meta.events.register_last("before-call.s3", _no_continue_for_empty_body)


SERVICE = S3ServiceInfo(name="S3", boto3_name="s3", signing_name="s3", endpoint_env="S3", s3_signing=True)
