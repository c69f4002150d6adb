"""boto3 plumbing shared by the boto3-based strategies: clients and one timed call.

botocore's own retries are turned off: the driver retries, so every attempt is seen
and timed on its own. Clients are costly to make (6-70 ms), so they are made once per
process (and per thread for the threaded strategy), never per call.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from writers.calls import Attempt, Call
from writers.errors import AwsCallError
from writers.per_process import PerProcess
from writers.strategies.base import StrategyOptions
from writers.target import Endpoint

# botocore's default pool of 10 connections would silently cap every user sharing a
# process-wide client; lift it well above any sensible number of users per process.
SHARED_POOL_CONNECTIONS = 1000


def classify_botocore_error(exc: Exception) -> AwsCallError:
    """botocore/aiobotocore exception -> one of our four failure kinds."""
    return AwsCallError.from_botocore(exc)


def client_config_options(
    options: StrategyOptions, pool_connections: int, endpoint: Endpoint | None = None
) -> dict[str, Any]:
    """botocore Config settings (aiobotocore's AioConfig takes the same)."""
    return {
        "retries": {"total_max_attempts": 1, "mode": "standard"},
        "max_pool_connections": pool_connections,
        "connect_timeout": options.timeout,
        "read_timeout": options.timeout,
        **(endpoint.service.boto3_config(endpoint.url) if endpoint is not None else {}),
    }


def client_config(options: StrategyOptions, pool_connections: int, endpoint: Endpoint | None = None) -> Config:
    return Config(**client_config_options(options, pool_connections, endpoint))


def close_connection(request: Any, **_: Any) -> None:
    request.headers["Connection"] = "close"


def make_client(endpoint: Endpoint, options: StrategyOptions, pool_connections: int, session: Any = None) -> Any:
    client = (session or endpoint.boto3_session()).client(
        endpoint.service.boto3_name,
        endpoint_url=endpoint.url,
        config=client_config(options, pool_connections, endpoint),
    )
    endpoint.service.configure_client(client)
    if not options.keep_alive:
        # After signing, just before sending: the server closes the connection after
        # answering, so every call pays for a new one.
        client.meta.events.register("before-send", close_connection)
    return client


_shared_clients: PerProcess[tuple[Endpoint, StrategyOptions], Any] = PerProcess()


def shared_client(endpoint: Endpoint, options: StrategyOptions) -> Any:
    """One client per process and settings; made after a fork, never inherited."""
    key = (endpoint, StrategyOptions(1, options.keep_alive, options.timeout))
    return _shared_clients.get(key, lambda: make_client(endpoint, options, SHARED_POOL_CONNECTIONS))


def call_boto3(client: Any, call: Call) -> Attempt:
    """Make one call, timed around the call alone; errors come back classified."""
    method = getattr(client, call.api_method)
    started = time.perf_counter()
    try:
        response = method(**call.params)
        read_streams(response)
    except (ClientError, BotoCoreError) as exc:
        finished = time.perf_counter()
        return Attempt(call, (finished - started) * 1000, error=classify_botocore_error(exc), finished=finished)
    finished = time.perf_counter()
    return Attempt(
        call, (finished - started) * 1000, response=response, bytes_received=response_bytes(response), finished=finished
    )


def read_streams(response: dict[str, Any]) -> None:
    """Read streaming bodies (S3 GetObject) to bytes inside the timed call: the download is
    part of the call, and the connection goes back to the pool."""
    for name, value in response.items():
        if hasattr(value, "read"):
            response[name] = value.read()


async def read_streams_async(response: dict[str, Any]) -> None:
    """`read_streams` for aiobotocore's answers."""
    for name, value in response.items():
        if hasattr(value, "read"):
            response[name] = await value.read()


def response_bytes(response: dict[str, Any]) -> int:
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    try:
        return int(headers.get("content-length", 0))
    except ValueError:
        return 0
