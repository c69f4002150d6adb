"""The S3 workload: objects written (or read back, --read-ratio) and the bucket they go to."""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from writers.calls import Call
from writers.errors import AwsCallError, ConfigError, FailureKind
from writers.services.base import Workload, WorkloadOptions
from writers.services.s3 import options as s3_options
from writers.services.s3.addressing import BucketAddress, S3Target, address_for
from writers.services.s3.billing import BILLING
from writers.services.s3.calls import CreateMultipartUpload, GetObject, MultipartUpload, PutObject
from writers.services.s3.content import ContentBlock
from writers.services.s3.emulator import EMULATORS
from writers.services.s3.faults import S3Faults
from writers.services.s3.keys import ObjectRecords
from writers.services.s3.options import BUCKET_PATTERN, S3Options, check_bucket_name
from writers.services.s3.service import SERVICE
from writers.services.s3.sizes import MAX_OBJECT_SIZE
from writers.target import Endpoint

logger = logging.getLogger("writers.s3")
REMEMBERED_KEYS = 100_000  # acknowledged keys kept per process for --read-ratio GETs
PROBE_TIMEOUT = 5.0  # seconds for the write probe before the swarm


class S3Workload(Workload):
    service = SERVICE
    resource_kind = "bucket"
    default_resource = "books-load-test"
    max_batch = 1
    max_payload_bytes = MAX_OBJECT_SIZE  # --payload-bytes is refused with its own message
    resource_pattern = BUCKET_PATTERN
    billing = BILLING
    emulators = EMULATORS
    local_port_offset = 1
    faults = S3Faults()
    options_class = S3Options
    options_module = s3_options
    options: S3Options

    @classmethod
    def check_resource_name(cls, name: str) -> None:
        check_bucket_name(name)

    def __init__(self, options: WorkloadOptions) -> None:
        super().__init__(options)
        self.target = S3Target(
            BucketAddress(self.options.resource), self.options.content_md5, self.options.payload_signing == "signed"
        )
        self.acked_keys: deque[str] = deque(maxlen=REMEMBERED_KEYS)
        self._block: ContentBlock | None = None
        self._read_credit = 0.0
        self._rng = random.Random()

    def prepare(self, endpoint: Endpoint) -> None:
        self.target = replace(self.target, bucket=address_for(endpoint, self.options.resource))

    @classmethod
    def make_shared_data(cls) -> None:
        """Objects are not book records: nothing shared to make up front."""

    @property
    def block(self) -> ContentBlock:
        if self._block is None:  # made on first use: after Locust forks, once per process
            self._block = ContentBlock.for_options(self.options)
        return self._block

    def records(self, seed: int | None, stream: int) -> ObjectRecords:
        return ObjectRecords(self.options, seed, stream)

    def write_calls(self, records: Sequence[dict[str, Any]]) -> list[Call]:
        """One upload per record; with --read-ratio, that share of them become GETs instead."""
        calls: list[Call] = []
        for record in records:
            if self._read_next():
                calls.append(self.get(self._rng.choice(self.acked_keys)))
            else:
                calls.append(self.upload(record["key"], record["size"], record.get("variant", 0)))
        return calls

    def _read_next(self) -> bool:
        ratio = self.options.read_ratio
        if not ratio or not self.acked_keys:
            return False
        self._read_credit += ratio
        if self._read_credit >= 1.0:
            self._read_credit -= 1.0
            return True
        return False

    def upload(self, key: str, size: int, variant: int = 0) -> Call:
        """PutObject, or CreateMultipartUpload (whose parts and completion follow) for large objects."""
        if not self.options.is_multipart(size):
            return PutObject(self.target, key, self.block.body(variant, size), self.acked_keys.append)
        part = self.options.part_size
        bodies = [self.block.body(variant + i, min(part, size - start)) for i, start in enumerate(range(0, size, part))]
        return CreateMultipartUpload(MultipartUpload(self.target, key, bodies, self.acked_keys.append))

    def get(self, key: str) -> GetObject:
        return GetObject(self.target, key)

    def provision(self, endpoint: Endpoint, timeout: float = 60.0) -> bool:
        client = endpoint.admin_client()
        bucket = self.options.resource
        if self._bucket_status(client, bucket) == 200:
            return False
        params: dict[str, Any] = {"Bucket": bucket}
        if endpoint.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": endpoint.region}
        try:
            client.create_bucket(**params)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "BucketAlreadyOwnedByYou":
                return False
            if code == "BucketAlreadyExists":
                raise ConfigError(f"bucket {bucket!r} belongs to another account (bucket names are global)") from None
            raise
        deadline = time.monotonic() + timeout
        while self._bucket_status(client, bucket) != 200:
            if time.monotonic() > deadline:
                raise ConfigError(f"bucket {bucket!r} was not usable within {timeout:.0f} s")
            time.sleep(0.2)
        return True

    def preflight(self, endpoint: Endpoint) -> None:
        """The bucket exists and these credentials may use it and write to it: an empty probe
        object is put (only if absent) and deleted at once. A probe that is throttled, fails
        on the server's side or times out says nothing either way: the run will tell."""
        self.prepare(endpoint)
        client, bucket = endpoint.admin_client(), self.options.resource
        where = endpoint.url or f"AWS {endpoint.region}"
        try:
            if self._bucket_status(client, bucket) == 404:
                raise ConfigError(f"bucket {bucket!r} does not exist at {where}")
        except BotoCoreError as exc:
            raise ConfigError(f"cannot reach S3 at {where}: {type(exc).__name__}") from None
        probe = endpoint.boto3_session().client(
            "s3", endpoint_url=endpoint.url, config=Config(
                retries={"total_max_attempts": 1}, connect_timeout=PROBE_TIMEOUT, read_timeout=PROBE_TIMEOUT,
                **SERVICE.boto3_config(endpoint.url),
            ),
        )  # fmt: skip
        SERVICE.configure_client(probe)  # an empty body: no Expect: 100-continue
        key = f"aws-load-writers-probe/{uuid.uuid4().hex}"
        try:
            probe.put_object(Bucket=bucket, Key=key, Body=b"", IfNoneMatch="*")
            probe.delete_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            error = AwsCallError.from_botocore(exc)
            if error.kind is FailureKind.CLIENT:
                raise ConfigError(f"cannot write to bucket {bucket!r}: {error.code}: {error.message}"[:300]) from None
        except BotoCoreError as exc:
            logger.warning("the write probe of bucket %r got no answer (%s); going on", bucket, type(exc).__name__)

    @staticmethod
    def _bucket_status(client: Any, bucket: str) -> int:
        try:
            client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if status == 403:
                raise ConfigError(S3Workload._forbidden(client, bucket)) from None
            if status != 404:
                raise
            return 404
        return 200

    @staticmethod
    def _forbidden(client: Any, bucket: str) -> str:
        """Why a HEAD was refused: HEAD answers carry no error code, so ask with a GET."""
        try:
            client.list_objects_v2(Bucket=bucket, MaxKeys=0)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            reasons = {
                "SignatureDoesNotMatch": "the secret key does not match the access key",
                "InvalidAccessKeyId": "the access key is not known here",
                "AccessDenied": f"bucket {bucket!r} exists but these credentials may not use it",
            }
            return f"{reasons.get(code, f'bucket {bucket!r} cannot be used')} ({code or 'HTTP 403'})"
        return f"bucket {bucket!r} exists but these credentials may not use it"

    def teardown(self, endpoint: Endpoint) -> None:
        """Abort unfinished uploads, delete every object, then the bucket."""
        try:
            self.empty(endpoint)
            endpoint.admin_client().delete_bucket(Bucket=self.options.resource)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchBucket":
                raise

    def empty(self, endpoint: Endpoint) -> None:
        """Abort unfinished multipart uploads and delete every object; the bucket stays."""
        client = endpoint.admin_client()
        bucket = self.options.resource
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for upload in page.get("Uploads", []):
                client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})

    def stored_objects(self, endpoint: Endpoint) -> dict[str, int]:
        """Every object in the bucket now: key -> size."""
        pages = endpoint.admin_client().get_paginator("list_objects_v2").paginate(Bucket=self.options.resource)
        return {o["Key"]: int(o["Size"]) for page in pages for o in page.get("Contents", [])}

    def stored_keys(self, endpoint: Endpoint) -> set[str]:
        return set(self.stored_objects(endpoint))
