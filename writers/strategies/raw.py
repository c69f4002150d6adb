"""Shared by the raw strategies (aiohttp, gevent): our SigV4 signer and answer reading.

The signer derives its key once per day/region/service; one signer per process and
endpoint, so signing a call costs two SHA-256 and one HMAC.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from writers.calls import Attempt, Call
from writers.errors import AwsCallError
from writers.per_process import PerProcess
from writers.sigv4 import SigV4Signer
from writers.target import Endpoint


class SignedRequest(NamedTuple):
    method: str
    url: str  # full URL, already encoded
    path_and_query: str
    headers: dict[str, str]
    body: bytes
    base_url: str  # the origin it goes to: the endpoint's, or the call's own (WireRequest.base_url)


_signers: PerProcess[Endpoint, SigV4Signer] = PerProcess()


def signer_for(endpoint: Endpoint) -> SigV4Signer:
    service = endpoint.service
    return _signers.get(
        endpoint,
        lambda: SigV4Signer(endpoint.credentials(), endpoint.region, service.signing_name, s3=service.s3_signing),
    )


def sign_call(signer: SigV4Signer, base_url: str, call: Call, keep_alive: bool) -> SignedRequest:
    wire = call.wire()
    path_and_query = wire.path_and_query
    base_url = wire.base_url or base_url
    url = base_url + path_and_query
    headers = signer.sign(wire.method, url, wire.headers, wire.body, payload_hash=wire.payload_hash)
    if not keep_alive:
        headers["Connection"] = "close"  # not signed: hop-by-hop, like botocore would leave it
    return SignedRequest(wire.method, url, path_and_query, headers, wire.body, base_url)


def read_answer(
    call: Call, started: float, finished: float, status: int, headers: Mapping[str, str], body: bytes
) -> Attempt:
    """An attempt from a raw HTTP answer: parsed as boto3 would, or its error classified.
    `started`/`finished`: time.perf_counter() around the exchange."""
    elapsed_ms = (finished - started) * 1000
    try:
        response = call.parse_wire(status, headers, body)
    except AwsCallError as error:
        return Attempt(call, elapsed_ms, error=error, bytes_received=len(body), finished=finished)
    return Attempt(call, elapsed_ms, response=response, bytes_received=len(body), finished=finished)


def network_failure(call: Call, started: float, finished: float, exc: BaseException) -> Attempt:
    return Attempt(call, (finished - started) * 1000, error=AwsCallError.network(exc), finished=finished)
