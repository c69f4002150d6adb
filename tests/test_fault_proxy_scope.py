"""The fault proxy claims a signed request by the service its SigV4 credential scope names.

A service on the Query protocol (CloudWatch's `monitoring`, say) sends no X-Amz-Target,
as S3 does: recognised by "no X-Amz-Target", its requests would be throttled and answered
as S3's. Claimed by the scope, they are nobody's and pass through untouched.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from botocore.auth import S3SigV4Auth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import fault_proxy as fp
from fault_proxy.resign import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

pytestmark = pytest.mark.timeout(60)

REGION = "us-east-1"
CREDENTIALS = Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY)
QUERY_BODY = b"Action=PutMetricData&Version=2010-08-01&Namespace=test"


def signed(service: str, method: str, url: str, headers: dict[str, str], body: bytes = b"") -> dict[str, str]:
    """The headers of a request signed with botocore for `service`."""
    request = AWSRequest(method=method, url=url, headers=headers, data=body)
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(CREDENTIALS, service, REGION).add_auth(request)
    return dict(request.headers.items())


def test_a_request_signed_for_a_service_the_proxy_does_not_know_is_not_taken_for_s3() -> None:
    headers = signed(
        "monitoring", "POST", "http://127.0.0.1:9/", {"Content-Type": "application/x-www-form-urlencoded"}, QUERY_BODY
    )
    assert "X-Amz-Target" not in headers  # what made it look like S3
    info = fp.classify("/", headers, QUERY_BODY, "POST")
    assert (info.service, info.faults, info.costs) == ("", None, {})


def test_signed_requests_belong_to_the_service_of_their_scope() -> None:
    s3 = signed("s3", "PUT", "http://127.0.0.1:9/bucket/key", {}, b"x")
    assert fp.classify("/bucket/key", s3, None, "PUT").service == "S3"
    target = {"X-Amz-Target": "DynamoDB_20120810.PutItem", "Content-Type": "application/x-amz-json-1.0"}
    ddb = signed("dynamodb", "POST", "http://127.0.0.1:9/", target, b'{"TableName": "t1"}')
    put = fp.classify("/", ddb, b'{"TableName": "t1"}')
    assert (put.service, put.costs) == ("DynamoDB", {"t1": 1})
    # Signed for SQS, but DynamoDB's target: the scope's service does not recognise it, nobody claims it.
    mixed = signed("sqs", "POST", "http://127.0.0.1:9/", target, b'{"TableName": "t1"}')
    assert fp.classify("/", mixed, b'{"TableName": "t1"}').service == ""


def test_a_presigned_url_names_its_service_in_the_query() -> None:
    def presigned(service: str) -> str:
        request = AWSRequest(method="GET", url="http://127.0.0.1:9/bucket/key")
        SigV4QueryAuth(CREDENTIALS, service, REGION, expires=60).add_auth(request)
        return request.url.split("127.0.0.1:9", 1)[1]

    s3_path = presigned("s3")
    assert "X-Amz-Credential=" in s3_path
    assert fp.signed_service({}, s3_path) == "s3"
    assert fp.classify(s3_path, {"Host": "127.0.0.1:9"}, None, "GET").service == "S3"
    other = presigned("monitoring")
    assert fp.classify(other, {"Host": "127.0.0.1:9"}, None, "GET").service == ""


def test_an_unknown_service_passes_a_proxy_that_throttles_every_claimed_request() -> None:
    """Through the proxy itself: every request it claims is throttled (rate 1); the one signed
    for CloudWatch reaches the upstream, S3's is answered SlowDown by the proxy."""

    async def scenario() -> tuple[int, bytes, int, bytes, int]:
        seen: list[str] = []

        async def upstream_handler(request: web.Request) -> web.Response:
            seen.append(request.headers.get("Authorization", ""))
            return web.Response(text="<upstream/>")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", upstream_handler)
        upstream = web.AppRunner(app)
        await upstream.setup()
        site = web.TCPSite(upstream, "127.0.0.1", 0)
        await site.start()
        upstream_port = int(upstream.addresses[0][1])
        proxy = fp.FaultProxy(
            f"http://127.0.0.1:{upstream_port}",
            fp.FaultConfig(throttle_rate=1.0, seed=1),
            (DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY),
        )
        runner, port = await proxy.start("127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{port}/"
                headers = signed(
                    "monitoring", "POST", url, {"Content-Type": "application/x-www-form-urlencoded"}, QUERY_BODY
                )
                async with session.post(url, data=QUERY_BODY, headers=headers) as answer:
                    unknown = (answer.status, await answer.read())
                s3_url = f"http://127.0.0.1:{port}/bucket/key"
                s3_headers = signed("s3", "PUT", s3_url, {}, b"x")
                async with session.put(s3_url, data=b"x", headers=s3_headers) as answer:
                    s3 = (answer.status, await answer.read())
        finally:
            await runner.cleanup()
            await proxy.close()
            await upstream.cleanup()
        return unknown[0], unknown[1], s3[0], s3[1], len(seen)

    unknown_status, unknown_body, s3_status, s3_body, upstream_calls = asyncio.run(scenario())
    assert (unknown_status, unknown_body) == (200, b"<upstream/>")
    assert s3_status == 503 and b"<Code>SlowDown</Code>" in s3_body
    assert upstream_calls == 1  # only the request nobody claimed went through
