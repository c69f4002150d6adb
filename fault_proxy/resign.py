"""Re-signing a cut batch (--partial-batches) with botocore's SigV4Auth."""

from __future__ import annotations

from multidict import CIMultiDict

from fault_proxy.classification import credential_scope

# The emulators' fake keys (writers.emulators.LOCAL_*), repeated here so the proxy
# runs without the project installed.
DEFAULT_ACCESS_KEY = "AKIALOCALEMULATOR000"
DEFAULT_SECRET_KEY = "local-emulator-secret-key-not-for-aws"


def resign(
    method: str, url: str, headers: CIMultiDict[str], body: bytes, access_key: str, secret_key: str
) -> CIMultiDict[str] | None:
    """Headers for ``body`` signed again with botocore's SigV4Auth, or None if we lack the key.

    Signs the same header names the client signed, so the upstream sees the same
    kind of request, just with fewer items.
    """
    from botocore.auth import SigV4Auth  # imported here: only --partial-batches needs botocore
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    authorization = headers.get("Authorization", "")
    scope = credential_scope(authorization)
    if scope is None or scope[0] != access_key:
        return None
    _key, region, service = scope
    try:
        signed = authorization.split("SignedHeaders=", 1)[1].split(",", 1)[0].strip().split(";")
    except IndexError:
        return None
    out = CIMultiDict(headers)
    if "Content-Length" in out:
        out["Content-Length"] = str(len(body))
    to_sign = {name: out[name] for name in signed if name in out and name not in ("x-amz-date", "authorization")}
    request = AWSRequest(method=method, url=url, headers=to_sign, data=body)
    token = out.get("X-Amz-Security-Token")
    SigV4Auth(Credentials(access_key, secret_key, token), service, region).add_auth(request)
    for name in ("Authorization", "X-Amz-Date"):
        out[name] = request.headers[name]
    return out
