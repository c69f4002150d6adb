"""Failure classes shared by every service and strategy.

A failed AWS call is one of four kinds, because each calls for a different reaction:
throttled calls are retried after a backoff, server errors and network faults are
retried, client errors are not (the request itself is wrong).
"""

from __future__ import annotations

from enum import StrEnum


class FailureKind(StrEnum):
    THROTTLED = "throttled"
    CLIENT = "client"  # 4xx: the request is wrong, retrying will not help
    SERVER = "server"  # 5xx
    NETWORK = "network"  # connection refused/reset, timeout, DNS

    @property
    def retryable(self) -> bool:
        return self is not FailureKind.CLIENT


# Error codes AWS services use for throttling, whatever the HTTP status.
THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "RequestThrottled",
        "RequestThrottledException",
        "ThrottledException",
        "AWS.SimpleQueueService.RequestThrottled",
        "KMS.ThrottlingException",
        "LimitExceededException",
    }
)


class AwsCallError(Exception):
    """One failed AWS call, already classified."""

    def __init__(self, kind: FailureKind, code: str, message: str = "", status: int | None = None) -> None:
        self.kind = kind
        self.code = code
        self.status = status
        self.message = message
        # Short and stable: Locust groups failures by this text, so no request ids here.
        super().__init__(f"{kind.value}: {code}" + (f" (HTTP {status})" if status else ""))

    @classmethod
    def from_response(cls, status: int, code: str, message: str = "") -> AwsCallError:
        """Classify an error answer from the service by its code and HTTP status."""
        short_code = code.rsplit("#", 1)[-1]  # JSON protocol: "com.amazonaws.dynamodb.v20120810#Code"
        if short_code in THROTTLING_CODES or status == 429:
            kind = FailureKind.THROTTLED
        elif status >= 500:
            kind = FailureKind.SERVER
        else:
            kind = FailureKind.CLIENT
        return cls(kind, short_code, message, status)

    @classmethod
    def from_botocore(cls, exc: Exception) -> AwsCallError:
        """A botocore/aiobotocore exception, classified the same way as our raw answers."""
        from botocore.exceptions import ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotocoreConnectionError

        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
            return cls.from_response(int(status), str(error.get("Code", "Unknown")), str(error.get("Message", "")))
        if isinstance(exc, (HTTPClientError, BotocoreConnectionError)):  # timeouts, refused, reset, closed, TLS
            return cls.network(exc)
        # Missing credentials, bad parameters...: retrying cannot help.
        return cls(FailureKind.CLIENT, type(exc).__name__, str(exc)[:200])

    @classmethod
    def network(cls, exc: BaseException) -> AwsCallError:
        return cls(FailureKind.NETWORK, type(exc).__name__, str(exc)[:200])

    def __reduce__(self) -> tuple[type[AwsCallError], tuple[FailureKind, str, str, int | None]]:
        return (type(self), (self.kind, self.code, self.message, self.status))


def one_line(exc: BaseException) -> str:
    """An exception as one short line, for messages that must not become tracebacks."""
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


class ConfigError(Exception):
    """Bad input from the user: reported as one line, never as a traceback."""
