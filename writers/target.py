"""Where calls go and as whom: target resolution and credentials.

`--target local` uses a local emulator and its fixed fake credentials; `--target aws`
uses boto3's credential chain and AWS's endpoints (or AWS_ENDPOINT_URL[_<SERVICE>]
when set); `--target URL` sends to that URL with credentials from boto3's chain.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.credentials import Credentials

from writers.calls import ServiceInfo
from writers.errors import ConfigError
from writers.per_process import PerProcess

DEFAULT_REGION = "us-east-1"
# Provisioning, look-ups and read-backs, every service alike: an unreachable endpoint is
# reported after ADMIN_ATTEMPTS connect attempts of ADMIN_CONNECT_TIMEOUT seconds each
# (~25 s), not after botocore's default 60 s per attempt; a throttled control plane gets
# as many tries.
ADMIN_CONNECT_TIMEOUT = 5.0
ADMIN_READ_TIMEOUT = 30.0
ADMIN_ATTEMPTS = 4


def parse_target(value: str) -> str:
    """Check a --target value: "local", "aws" or an http(s) URL with a host."""
    value = value.strip()
    if value in ("local", "aws"):
        return value
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed IPv6 bracket: "http://[::1"
        raise ConfigError(f"--target is not a valid URL: {value!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--target must be 'local', 'aws' or an http(s):// URL, not {value!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"--target URL has an invalid port: {value!r}") from None
    return value.rstrip("/")


def env_endpoint(service: ServiceInfo) -> str | None:
    """The endpoint boto3 itself would take from the environment."""
    return os.environ.get(f"AWS_ENDPOINT_URL_{service.endpoint_env}") or os.environ.get("AWS_ENDPOINT_URL") or None


@functools.cache
def default_region() -> str:
    """boto3's configured region (a Session costs ~20 ms: asked once per process)."""
    return boto3.session.Session().region_name or DEFAULT_REGION


@dataclass(frozen=True)
class Endpoint:
    """One service at one place, with the credentials to use there. Secrets stay out of repr."""

    service: ServiceInfo
    region: str
    url: str | None  # None: AWS's own endpoint for the region
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)

    @property
    def raw_url(self) -> str:
        """The URL raw strategies send to (they have no endpoint resolver of their own)."""
        return self.url or self.service.default_endpoint(self.region)

    def session_kwargs(self) -> dict[str, Any]:
        """Arguments for a boto3 Session or an aiobotocore client: fixed keys for emulators, else the chain."""
        if self.access_key:
            return {
                "aws_access_key_id": self.access_key,
                "aws_secret_access_key": self.secret_key,
                "region_name": self.region,
            }
        return {"region_name": self.region}

    def boto3_session(self) -> boto3.session.Session:
        return boto3.session.Session(**self.session_kwargs())

    def admin_client(self) -> Any:
        """The boto3 client for provisioning, look-ups and checks: botocore's retries on,
        a short connect timeout. One per process and endpoint (costly to make, safe to share)."""
        return _admin_clients.get(self, self._new_admin_client)

    def _new_admin_client(self) -> Any:
        config = Config(
            retries={"mode": "standard", "total_max_attempts": ADMIN_ATTEMPTS},
            connect_timeout=ADMIN_CONNECT_TIMEOUT,
            read_timeout=ADMIN_READ_TIMEOUT,
            **self.service.boto3_config(self.url),
        )
        client = self.boto3_session().client(self.service.boto3_name, endpoint_url=self.url, config=config)
        self.service.configure_client(client)
        return client

    def credentials(self) -> Any:
        """botocore credentials (refreshable when the chain gives such), for our own signer."""
        if self.access_key:
            return Credentials(self.access_key, self.secret_key or "")
        creds = self.boto3_session().get_credentials()
        if creds is None:
            raise ConfigError("no AWS credentials found (boto3 looked in env, profile, SSO, IRSA, instance role)")
        return creds


_admin_clients: PerProcess[Endpoint, Any] = PerProcess()


def resolve_endpoint(
    target: str,
    service: ServiceInfo,
    region: str,
    *,
    local_url: str | None = None,
    local_credentials: tuple[str, str] | None = None,
) -> Endpoint:
    """The endpoint for one service under a checked --target value."""
    if target == "local":
        if local_url is None:
            raise ConfigError(f"no local emulator is running for {service.name}")
        access, secret = local_credentials or (None, None)
        return Endpoint(service, region, local_url, access, secret)
    if target == "aws":
        return Endpoint(service, region, env_endpoint(service))
    return Endpoint(service, region, target)
