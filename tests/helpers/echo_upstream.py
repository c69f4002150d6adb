"""An HTTP upstream for the fault proxy's tests (aiohttp, in a thread of the test process):
it echoes each request as JSON, streams a large body, answers gzip untouched, and checks
the SigV4 signature of every BatchWriteItem it gets (the proxy re-signs partial batches)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import threading
from typing import Any

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY


def _verify_sigv4(request: web.BaseRequest, body: bytes) -> bool:
    """Recompute the request's SigV4 signature with botocore from what arrived."""
    authorization = request.headers.get("Authorization", "")
    try:
        credential = authorization.split("Credential=")[1].split(",")[0]
        signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
        signature = authorization.split("Signature=")[1].strip()
        access_key, _date, region, service, _ = credential.split("/")
    except (IndexError, ValueError):
        return False
    if access_key != LOCAL_ACCESS_KEY:
        return False
    headers = {name: request.headers[name] for name in signed if name in request.headers}
    aws_request = AWSRequest(
        method=request.method, url=f"http://{request.headers['Host']}{request.raw_path}", headers=headers, data=body
    )
    aws_request.context["timestamp"] = request.headers.get("X-Amz-Date", "")
    auth = SigV4Auth(Credentials(access_key, LOCAL_SECRET_KEY), service, region)
    expected = auth.signature(auth.string_to_sign(aws_request, auth.canonical_request(aws_request)), aws_request)
    return expected == signature


BIG = bytes(range(256)) * 12_000  # ~3 MB, streamed back in chunks
GZIPPED = gzip.compress(b'{"compressed": true}' * 100)


class EchoUpstream:
    """A raw HTTP upstream in a background thread: echoes requests, streams, checks signatures."""

    def __init__(self) -> None:
        self.batches: list[dict[str, Any]] = []  # BatchWriteItem requests seen: {"items", "signed_ok"}
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "in-test upstream did not start"
        self.url = f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self.runner = web.ServerRunner(web.Server(self.handle), handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.port = self.runner.addresses[0][1]

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.content.read()
        if request.headers.get("X-Amz-Target") == "DynamoDB_20120810.BatchWriteItem":
            return self.batch_write(request, body)
        if request.raw_path == "/big":
            response = web.StreamResponse(headers={"X-Custom": "one"})
            response.headers.add("X-Custom", "two")
            await response.prepare(request)
            for start in range(0, len(BIG), 65536):
                await response.write(BIG[start : start + 65536])
            await response.write_eof()
            return response
        if request.raw_path == "/gzip":
            return web.Response(body=GZIPPED, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
        echo = {
            "method": request.method,
            "raw_path": request.raw_path,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.raw_headers],
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body_length": len(body),
        }
        return web.json_response(echo, status=201, headers={"X-Upstream": "echo"})

    def batch_write(self, request: web.BaseRequest, body: bytes) -> web.Response:
        items = json.loads(body)["RequestItems"]
        ok = _verify_sigv4(request, body)
        self.batches.append({"items": {t: len(w) for t, w in items.items()}, "signed_ok": ok})
        if not ok:
            error = {"__type": "com.amazon.coral.service#InvalidSignatureException", "message": "bad signature"}
            return web.json_response(error, status=400, content_type="application/x-amz-json-1.0")
        return web.json_response({"UnprocessedItems": {}}, content_type="application/x-amz-json-1.0")

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
