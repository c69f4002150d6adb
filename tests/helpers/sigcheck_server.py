"""A DynamoDB-shaped test server that checks every request's SigV4 signature with botocore.

Started by tests as a subprocess (`python tests/helpers/sigcheck_server.py SECRET_KEY [DELAY_MS]`);
prints its URL on one line. Answers `{}` (a valid PutItem answer) to correctly signed
requests, 403 with a DynamoDB-style error otherwise, and counts TCP connections, so
keep-alive on/off and signing bugs both show. GET /__stats returns the counters.

The tool's checks before the swarm are answered as a real table would and not counted:
DescribeTable (an active table keyed by `isbn`) and the conditional write probe
(ConditionalCheckFailedException: allowed, and nothing stored).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TABLE = {
    "TableName": "books",
    "TableStatus": "ACTIVE",
    "KeySchema": [{"AttributeName": "isbn", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "isbn", "AttributeType": "S"}],
}
CONDITION_FAILED = {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "message": "no"}
stats: dict[str, int] = {"connections": 0, "requests": 0, "bad_signatures": 0, "in_flight": 0, "max_in_flight": 0}
peers: set[Any] = set()  # client (address, port) pairs seen: one per TCP connection


def signature_ok(request: web.Request, body: bytes, secret: str) -> bool:
    """Recompute the signature with botocore from what arrived; compare."""
    auth_header = request.headers.get("Authorization", "")
    try:
        credential = auth_header.split("Credential=")[1].split(",")[0]
        signed = auth_header.split("SignedHeaders=")[1].split(",")[0].split(";")
        signature = auth_header.split("Signature=")[1].strip()
    except IndexError:
        return False
    access_key, date, region, service, _ = credential.split("/")
    url = f"http://{request.headers['Host']}{request.raw_path}"
    headers = {name: request.headers[name] for name in signed if name in request.headers}
    aws_request = AWSRequest(method=request.method, url=url, headers=headers, data=body)
    aws_request.context["timestamp"] = request.headers.get("X-Amz-Date", "")
    token = request.headers.get("X-Amz-Security-Token")
    auth = SigV4Auth(Credentials(access_key, secret, token), service, region)
    canonical = auth.canonical_request(aws_request)
    expected = auth.signature(auth.string_to_sign(aws_request, canonical), aws_request)
    return expected == signature and date == request.headers.get("X-Amz-Date", "")[:8]


def make_app(secret: str, delay: float) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        if request.path == "/__stats":
            return web.json_response(stats)
        if request.path == "/__reset":
            stats.update(dict.fromkeys(stats, 0))
            peers.clear()
            return web.json_response(stats)
        body = await request.read()
        target = request.headers.get("X-Amz-Target", "")
        if target.endswith(".DescribeTable"):
            return web.Response(body=json.dumps({"Table": TABLE}).encode(), content_type="application/x-amz-json-1.0")
        if target.endswith(".PutItem") and b"ConditionExpression" in body:
            return web.json_response(CONDITION_FAILED, status=400, content_type="application/x-amz-json-1.0")
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer not in peers:
            peers.add(peer)
            stats["connections"] += 1
        stats["requests"] += 1
        stats["in_flight"] += 1
        stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
        try:
            if delay:
                await asyncio.sleep(delay)
        finally:
            stats["in_flight"] -= 1
        if not signature_ok(request, body, secret):
            stats["bad_signatures"] += 1
            error = {"__type": "com.amazon.coral.service#InvalidSignatureException", "message": "bad signature"}
            return web.json_response(error, status=400, content_type="application/x-amz-json-1.0")
        return web.Response(body=b"{}", content_type="application/x-amz-json-1.0")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def main(secret: str, delay: float) -> None:
    app = make_app(secret, delay)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server: Any = site._server
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0))
