"""AWS Signature Version 4 header signing, byte-identical to botocore.

Follows botocore's ``SigV4Auth`` / ``S3SigV4Auth`` step by step (one method per
step of the spec), but keeps what is constant per signer, per URL, per day and per
request shape (method, host, caller headers): a request fills the slots of a prepared
canonical request (path, query, date, payload hash), then two SHA-256 and one HMAC.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import ipaddress
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import formatdate
from functools import lru_cache
from typing import Any, NamedTuple, Protocol, runtime_checkable
from urllib.parse import SplitResult, quote, urlsplit

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256_HASH",
    "UNSIGNED_PAYLOAD",
    "CredentialsLike",
    "FrozenCredentials",
    "SigV4Signer",
    "StaticCredentials",
]

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"

# botocore's SIGNED_HEADERS_BLACKLIST: proxies and HTTP stacks may add or rewrite these.
UNSIGNED_HEADERS = frozenset({"expect", "transfer-encoding", "user-agent", "x-amzn-trace-id"})
# Headers the signer owns; botocore deletes caller copies (all spellings) before signing.
_MANAGED_HEADERS = frozenset({"authorization", "date", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# botocore refuses to bracket an IPv6 host when the URL holds these (see is_valid_ipv6_endpoint_url).
_UNSAFE_URL_CHARS = frozenset("\t\r\n")
_ZONE_ID_RE = re.compile(r"(?:%25|%)(?:[A-Za-z0-9._!\-~]|%[a-fA-F0-9]{2})+")
_KEY_CACHE_MAX = 8
_URL_CACHE_MAX = 4096
_SHAPE_CACHE_MAX = 256
# RFC 2104's inner and outer pads, as byte translation tables (as the hmac module builds them).
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_SHA256 = hashlib.sha256()  # copied per hash (see payload_hash)
# scheme://netloc, path, ?query: what urlsplit finds in a URL without a fragment, and
# without the tab and newlines urlsplit strips (those take its own path).
_SIMPLE_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/?#\t\r\n]*)([^?#\t\r\n]*)(?:\?([^#\t\r\n]*))?")


class FrozenCredentials(Protocol):
    """A consistent access key / secret / token triple (botocore's ReadOnlyCredentials)."""

    @property
    def access_key(self) -> str: ...

    @property
    def secret_key(self) -> str: ...

    @property
    def token(self) -> str | None: ...


@runtime_checkable
class _RefreshingCredentials(Protocol):
    def get_frozen_credentials(self) -> FrozenCredentials: ...


CredentialsLike = _RefreshingCredentials | FrozenCredentials


class StaticCredentials(NamedTuple):
    """Fixed credentials; also the adapter for bare ReadOnlyCredentials-like objects."""

    access_key: str
    secret_key: str
    token: str | None = None

    def get_frozen_credentials(self) -> StaticCredentials:
        return self


def _fold(value: str) -> str:
    """Trimall from the spec, exactly as botocore does it (str.split whitespace)."""
    return " ".join(value.split())


def _escape(text: str) -> str:
    """Literal text inside a str.format template."""
    return text.replace("{", "{{").replace("}", "}}")


class KeyedSha256(NamedTuple):
    """HMAC-SHA256 with its key mixed in: the hash states after the inner and the outer pad.

    A signature copies two C hash objects, where hmac.HMAC.copy() runs Python code
    (~0.7 us against ~1.1 us).
    """

    inner: Any  # hashlib's sha256 objects (their class is private)
    outer: Any

    @classmethod
    def of(cls, key: bytes) -> KeyedSha256:
        if len(key) > 64:  # SHA-256's block; kSigning is 32 bytes
            key = hashlib.sha256(key).digest()
        padded = key.ljust(64, b"\0")
        return cls(hashlib.sha256(padded.translate(_IPAD)), hashlib.sha256(padded.translate(_OPAD)))

    def hexdigest(self, message: bytes) -> str:
        inner = self.inner.copy()
        inner.update(message)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return str(outer.hexdigest())


class _Shape(NamedTuple):
    """What a request's method, host and caller headers fix, prepared once (see _prepare_shape)."""

    out_items: tuple[tuple[str, str], ...]  # the caller's headers that are sent, in order
    date_header: str  # X-Amz-Date, or Date when the caller sent one
    add_host: bool  # the caller sent no Host
    template: str  # the canonical request, slots {u} {q} {d} {t} {h} {p}
    signed_headers: str
    sent_hash: str | None  # not S3: the caller's X-Amz-Content-SHA256, the payload hash


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4 plus empty-segment removal, as botocore.utils.remove_dot_segments."""
    if not path:
        return ""
    out: list[str] = []
    for seg in path.split("/"):
        if seg and seg != ".":
            if seg == "..":
                if out:
                    out.pop()
            else:
                out.append(seg)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and out else ""
    return first + "/".join(out) + last


def _is_ipv6_host(hostname: str) -> bool:
    addr, sep, zone = hostname.partition("%")
    if sep and not _ZONE_ID_RE.fullmatch(sep + zone):
        return False
    try:
        ipaddress.IPv6Address(addr)
    except ValueError:
        return False
    return True


class SigV4Signer:
    """Signs requests with SigV4 headers; ``s3=True`` gives S3SigV4Auth's variant.

    Safe to share between threads and greenlets: caches are replaced atomically.
    """

    def __init__(self, credentials: CredentialsLike, region: str, service: str, *, s3: bool = False) -> None:
        self._credentials: _RefreshingCredentials
        if isinstance(credentials, _RefreshingCredentials):
            self._credentials = credentials
        else:  # a bare ReadOnlyCredentials-like triple
            self._credentials = StaticCredentials(credentials.access_key, credentials.secret_key, credentials.token)
        self.region = region
        self.service = service
        self.s3 = s3
        self._scope_suffix = f"/{region}/{service}/aws4_request"
        self._region_b = region.encode()
        self._service_b = service.encode()
        # (secret, date) -> HMAC-SHA256 already keyed with kSigning; copying it skips re-keying.
        self._keys: dict[tuple[str, str], KeyedSha256] = {}
        self._shapes: dict[tuple[str, str, bool, tuple[tuple[str, str], ...]], _Shape] = {}
        self._clock: tuple[int, str] = (-1, "")
        self._folded_token: tuple[str, str] = ("", "")
        # Endpoints repeat (DynamoDB/SQS: one URL), so parse each URL once. S3 URLs name an
        # object each and never repeat: only their origin is parsed once (S3 signs the path as is).
        self._origin_info = lru_cache(maxsize=_URL_CACHE_MAX)(self._parse_url)
        self._url_info = self._split_s3_url if s3 else self._origin_info

    # -- per-URL steps (cached) -------------------------------------------------

    def _parse_url(self, url: str) -> tuple[str, str, str, str]:
        """(Host header, folded host, canonical URI, canonical query) for a URL."""
        parts = urlsplit(url)
        host = self.host(parts, url)
        return host, _fold(host), self.canonical_uri(parts.path), self.canonical_query_string(parts.query)

    def _split_s3_url(self, url: str) -> tuple[str, str, str, str]:
        """_parse_url for URLs that never repeat: the origin's part cached, the rest split here."""
        simple = _SIMPLE_URL.fullmatch(url)
        if simple is None:
            return self._parse_url(url)  # fragments, stray whitespace: urlsplit's own rules
        origin, path, query = simple.groups()
        host, folded_host, _, _ = self._origin_info(origin)
        return host, folded_host, self.canonical_uri(path), self.canonical_query_string(query or "")

    def host(self, parts: SplitResult, url: str) -> str:
        """Host header value: lowercase, no userinfo, default port dropped (botocore's _host_from_url)."""
        hostname = parts.hostname
        if not hostname:
            raise ValueError(f"URL has no host: {url!r}")
        if ":" in hostname and not _UNSAFE_URL_CHARS.intersection(url) and _is_ipv6_host(hostname):
            hostname = f"[{hostname}]"
        port = parts.port
        if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
            hostname = f"{hostname}:{port}"
        return hostname

    def canonical_uri(self, path: str) -> str:
        """Normalised, percent-encoded path; S3 signs the path exactly as sent."""
        if self.s3:
            # S3SigV4Auth._normalize_url_path: keys may legitimately hold '//', '.', '%2F'.
            return path
        return quote(_remove_dot_segments(path) if path else "/", safe="/~")

    def canonical_query_string(self, query: str) -> str:
        """Query pairs sorted by (key, value), taken verbatim from the URL like botocore."""
        if not query:
            return ""
        pairs = []
        for pair in query.split("&"):
            key, _, value = pair.partition("=")
            pairs.append((key, value))
        pairs.sort()
        return "&".join([f"{k}={v}" for k, v in pairs])

    # -- per-request steps -------------------------------------------------------

    def amz_date(self, timestamp: datetime | None) -> str:
        """ISO 8601 basic UTC time; naive datetimes are taken as UTC."""
        if timestamp is None:
            sec = int(time.time())
            clock = self._clock
            if clock[0] == sec:
                return clock[1]
            stamp = time.strftime(SIGV4_TIMESTAMP, time.gmtime(sec))
            self._clock = (sec, stamp)
            return stamp
        if timestamp.tzinfo is not None:
            timestamp = timestamp.astimezone(UTC)
        return timestamp.strftime(SIGV4_TIMESTAMP)

    def payload_hash(self, body: bytes, payload_hash: str | None) -> str:
        """Hex SHA-256 of the body unless the caller supplies the value."""
        if payload_hash is not None:
            return payload_hash
        if not body:
            return EMPTY_SHA256_HASH
        digest = _SHA256.copy()  # a copy of a made context: OpenSSL 3 looks the algorithm up for each new one
        digest.update(body)
        return digest.hexdigest()

    def canonical_headers(self, to_sign: Mapping[str, str], *, names_clean: bool = False) -> tuple[str, str]:
        """(CanonicalHeaders with trailing newline, SignedHeaders) from lowercase name -> folded value.

        ``names_clean``: the caller knows no name has surrounding whitespace.
        """
        names = sorted(to_sign)
        block = "".join([f"{n}:{to_sign[n]}\n" for n in names])
        return block, self.signed_headers(names, names_clean=names_clean)

    def signed_headers(self, sorted_names: list[str], *, names_clean: bool = False) -> str:
        """Names joined by ';'. botocore strips them here (only here), which may reorder them."""
        if names_clean:
            return ";".join(sorted_names)
        stripped = [n.strip() for n in sorted_names]
        if stripped != sorted_names:
            stripped.sort()
        return ";".join(stripped)

    def canonical_request(
        self,
        method: str,
        canonical_uri: str,
        canonical_query: str,
        canonical_headers: str,
        signed_headers: str,
        payload_hash: str,
    ) -> str:
        return (
            f"{method.upper()}\n{canonical_uri}\n{canonical_query}\n"
            f"{canonical_headers}\n{signed_headers}\n{payload_hash}"
        )

    def credential_scope(self, date: str) -> str:
        return date + self._scope_suffix

    def string_to_sign(self, amz_date: str, credential_scope: str, canonical_request: str) -> str:
        digest = _SHA256.copy()
        digest.update(canonical_request.encode())
        return f"{ALGORITHM}\n{amz_date}\n{credential_scope}\n{digest.hexdigest()}"

    def signing_key(self, secret_key: str, date: str) -> bytes:
        """Derive kSigning from the secret (four HMACs); callers go through the cache."""
        k = hmac.new(f"AWS4{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
        k = hmac.new(k, self._region_b, hashlib.sha256).digest()
        k = hmac.new(k, self._service_b, hashlib.sha256).digest()
        return hmac.new(k, b"aws4_request", hashlib.sha256).digest()

    def _keyed(self, secret_key: str, date: str) -> KeyedSha256:
        cache_key = (secret_key, date)
        keyed = self._keys.get(cache_key)
        if keyed is None:
            keyed = KeyedSha256.of(self.signing_key(secret_key, date))
            if len(self._keys) >= _KEY_CACHE_MAX:
                # Old days / rotated secrets are dead; replace rather than mutate under readers.
                self._keys = {}
            self._keys[cache_key] = keyed
        return keyed

    def signature(self, signing_key: bytes | KeyedSha256, string_to_sign: str) -> str:
        """Hex HMAC of the string to sign; accepts kSigning or a KeyedSha256 made from it."""
        if isinstance(signing_key, bytes):
            return hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        return signing_key.hexdigest(string_to_sign.encode())

    # -- per request shape (cached) ----------------------------------------------

    def _shape(
        self, method: str, host: str, folded_host: str, headers: Mapping[str, str] | None, token: bool
    ) -> _Shape:
        """The prepared shape for this method, host and caller headers (made once, then looked up)."""
        items = tuple(headers.items()) if headers else ()
        key = (method, host, token, items)
        try:
            shape = self._shapes.get(key)
        except TypeError:  # an unhashable header value: prepared every time
            return self._prepare_shape(method, folded_host, headers, token)
        if shape is None:
            shape = self._prepare_shape(method, folded_host, headers, token)
            if len(self._shapes) >= _SHAPE_CACHE_MAX:
                self._shapes = {}  # e.g. a header that changes per call: start over, never grow
            self._shapes[key] = shape
        return shape

    def _prepare_shape(self, method: str, folded_host: str, headers: Mapping[str, str] | None, token: bool) -> _Shape:
        """Everything the caller's headers decide, as botocore does it: which are sent, which
        signed (trimmed, same names joined), the sorted canonical block and SignedHeaders,
        written into a canonical-request template whose slots are filled per request."""
        out: dict[str, str] = {}
        to_sign: dict[str, str] = {}
        has_date = False
        names_clean = True
        sent_hash: str | None = None
        if headers:
            for name, value in headers.items():
                lname = name.lower()
                if names_clean and lname.strip() != lname:
                    names_clean = False
                if lname in _MANAGED_HEADERS:
                    if lname == "date":
                        has_date = True
                        continue
                    if lname == "authorization" or lname == "x-amz-date":
                        continue
                    if lname == "x-amz-security-token" and token:
                        continue
                    if lname == "x-amz-content-sha256":
                        if self.s3:
                            continue
                        if sent_hash is None:
                            sent_hash = value
                out[name] = value
                if lname in UNSIGNED_HEADERS:
                    continue
                folded = _escape(_fold(value))
                prev = to_sign.get(lname)
                to_sign[lname] = folded if prev is None else f"{prev},{folded}"
        # Slots, filled per request: {d} the date (X-Amz-Date, or Date when the caller sent
        # one), {t} the session token, {h} S3's content hash.
        to_sign["date" if has_date else "x-amz-date"] = "{d}"
        if token:
            to_sign["x-amz-security-token"] = "{t}"
        if self.s3:
            to_sign["x-amz-content-sha256"] = "{h}"
        add_host = "host" not in to_sign
        if add_host:
            to_sign["host"] = _escape(folded_host)
        names = sorted(to_sign)
        block = "".join([f"{_escape(n)}:{to_sign[n]}\n" for n in names])
        signed_headers = self.signed_headers(names, names_clean=names_clean)
        template = self.canonical_request(_escape(method), "{u}", "{q}", block, _escape(signed_headers), "{p}")
        return _Shape(
            tuple(out.items()), "Date" if has_date else "X-Amz-Date", add_host, template, signed_headers, sent_hash
        )

    def sign(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        body: bytes,
        *,
        payload_hash: str | None = None,
        timestamp: datetime | None = None,
    ) -> dict[str, str]:
        """Return the headers to send: the caller's plus Host, X-Amz-Date, token, Authorization.

        Mirrors botocore: a caller ``Date`` header is re-stamped and replaces
        X-Amz-Date; stale Authorization/X-Amz-Date (and token, content hash when
        the signer sets them) are dropped; for non-S3 a caller
        X-Amz-Content-SHA256 header is used as the payload hash.
        """
        creds = self._credentials.get_frozen_credentials()
        token = creds.token
        amz_date = self.amz_date(timestamp)
        host, folded_host, canonical_uri, canonical_query = self._url_info(url)
        shape = self._shape(method, host, folded_host, headers, bool(token))

        if shape.date_header == "Date":
            date_value = formatdate(calendar.timegm(time.strptime(amz_date, SIGV4_TIMESTAMP)))
        else:
            date_value = amz_date
        folded_token = ""
        if token:
            cached = self._folded_token  # read once: another thread may replace it meanwhile
            if cached[0] != token:
                # Session tokens run to ~1 KB and change hourly at most.
                cached = self._folded_token = (token, _fold(token))
            folded_token = cached[1]
        folded_hash = ""
        if self.s3:
            # S3SigV4Auth always (re)sets this header and signs whatever it holds.
            body_hash = self.payload_hash(body, payload_hash)
            folded_hash = _fold(body_hash)
        elif shape.sent_hash is not None:
            body_hash = shape.sent_hash
        else:
            body_hash = self.payload_hash(body, payload_hash)

        canonical_request = shape.template.format(
            u=canonical_uri, q=canonical_query, d=date_value, t=folded_token, h=folded_hash, p=body_hash
        )
        date = amz_date[:8]
        scope = self.credential_scope(date)
        string_to_sign = self.string_to_sign(amz_date, scope, canonical_request)
        signature = self.signature(self._keyed(creds.secret_key, date), string_to_sign)
        out = dict(shape.out_items)
        out[shape.date_header] = date_value
        if token:
            out["X-Amz-Security-Token"] = token
        if self.s3:
            out["X-Amz-Content-SHA256"] = body_hash
        if shape.add_host:
            out["Host"] = host
        out["Authorization"] = (
            f"{ALGORITHM} Credential={creds.access_key}/{scope}, "
            f"SignedHeaders={shape.signed_headers}, Signature={signature}"
        )
        return out
