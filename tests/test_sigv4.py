"""SigV4Signer must match botocore's SigV4Auth / S3SigV4Auth byte for byte."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest import mock

import pytest
from botocore.auth import (  # type: ignore[import-untyped]
    S3SigV4Auth,
    SigV4Auth,
    _host_from_url,
)
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.credentials import (  # type: ignore[import-untyped]
    Credentials,
    ReadOnlyCredentials,
    RefreshableCredentials,
)

from writers.sigv4 import UNSIGNED_PAYLOAD, KeyedSha256, SigV4Signer, StaticCredentials

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
DOC_TIME = datetime(2015, 8, 30, 12, 36, 0)

# --- botocore reference ---------------------------------------------------------


def botocore_sign(
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    creds: StaticCredentials,
    region: str,
    service: str,
    s3: bool,
    when: datetime,
    payload_hash: str | None = None,
    unsigned_via_config: bool = False,
) -> list[tuple[str, str]]:
    """Sign with botocore at a fixed time; returns the request's header list."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    cls: Any = S3SigV4Auth if s3 else SigV4Auth
    if unsigned_via_config:
        # The real botocore route to UNSIGNED-PAYLOAD for S3.
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    elif payload_hash is not None:
        fixed = payload_hash

        class FixedPayload(cls):  # type: ignore[misc,valid-type]
            def payload(self, request: Any) -> str:
                return fixed

        cls = FixedPayload
    # add_auth always stamps request.context['timestamp'] from get_current_datetime()
    # (naive UTC), overwriting any preset value, so the clock is what we pin.
    naive_utc = when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when
    frozen = ReadOnlyCredentials(creds.access_key, creds.secret_key, creds.token)
    with mock.patch("botocore.auth.get_current_datetime", return_value=naive_utc):
        cls(frozen, service, region).add_auth(request)
    return list(request.headers.items())


def ours_minus_added_host(out: dict[str, str], given: dict[str, str]) -> list[tuple[str, str]]:
    """Our headers without the Host we add (botocore leaves Host to the HTTP client)."""
    user_host = any(k.lower() == "host" for k in given)
    return [(k, v) for k, v in out.items() if user_host or k != "Host"]


def get_ci(pairs: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in pairs if k.lower() == name.lower()]


# --- generated requests -----------------------------------------------------------

SEGMENTS = [
    "a", "b c", "ünï", "日本語", "~user", "a+b", "k=v", "%2F", "%20", "x%41y", ".",
    "..", "", "foo.bar", "-_.~", "!$&'()*,;:@", "UPPER", "é", "key with  spaces",
]  # fmt: skip
QUERY_KEYS = [
    "a", "A", "b", "Action", "x-id", "prefix", "list-type", "ü", "a b", "a%20b",
    "k+", "", "%2F", "~t", "uploads",
]  # fmt: skip
QUERY_VALUES = [
    "", "1", "v", "a/b", "ü", "%2F", "x=y", " ", "+", "~", "a%20b", "日本", "2010-05-08",
]  # fmt: skip
HOSTS = [
    "dynamodb.us-east-1.amazonaws.com", "localhost", "127.0.0.1", "Example.COM",
    "[::1]", "[FE80::1%25eth0]", "sqs.eu-west-1.amazonaws.com",
    "user:pw@bucket.s3.amazonaws.com",
]  # fmt: skip
PORTS: list[int | None] = [None, None, 80, 443, 8000, 4566]
SERVICES = [("dynamodb", False), ("sqs", False), ("execute-api", False), ("s3", True)]
CREDS = [
    StaticCredentials(AKID, SECRET),
    StaticCredentials("ASIAEXAMPLE", "se/cr+et=", "FwoGZXIvYXdzEJr//////////token=="),
    StaticCredentials("AKIAOTHER", SECRET, ""),  # empty token: botocore sends none
]
ODD_TZ = timezone(timedelta(hours=5, minutes=30))


def random_path(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.08:
        return ""
    if roll < 0.12:
        return "/"
    segs = [rng.choice(SEGMENTS) for _ in range(rng.randint(1, 5))]
    path = "/" + "/".join(segs)
    if rng.random() < 0.2:
        path = "/" + path  # leading '//'
    if rng.random() < 0.2:
        path += "/./x"
    if rng.random() < 0.3:
        path += "/"
    return path


def random_query(rng: random.Random) -> str:
    if rng.random() < 0.35:
        return ""
    pairs = []
    for _ in range(rng.randint(1, 6)):
        key = rng.choice(QUERY_KEYS)
        form = rng.random()
        if form < 0.15:
            pairs.append(key)  # no '='
        elif form < 0.25:
            pairs.append(f"{key}=")
        else:
            pairs.append(f"{key}={rng.choice(QUERY_VALUES)}")
    if rng.random() < 0.1:
        pairs.insert(rng.randrange(len(pairs) + 1), "")  # '&&'
    return "?" + "&".join(pairs)


def random_headers(rng: random.Random, body: bytes) -> dict[str, str]:
    pool = [
        ("Content-Type", rng.choice(
            ["application/x-amz-json-1.0", "  application/json ", "text/plain;  charset=utf-8"]
        )),
        ("X-Amz-Target", "DynamoDB_20120810.PutItem"),
        ("x-amz-meta-Foo", "a   b\tc  "),
        ("X-AMZ-META-bar", " lead and trail "),
        ("X-Custom", ""),
        ("X-Multi", "line1\n  line2\r\n\tline3"),
        ("X-Unicode", "ünï  cödé"),
        ("User-Agent", "locust/2.0  (x)"),
        ("Expect", "100-continue"),
        ("X-Amzn-Trace-Id", "Root=1-abc"),
        ("Transfer-Encoding", "chunked"),
        ("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
        ("Content-Length", str(len(body))),
        ("X-Dup", "one"),
        ("x-dup", "  two  "),
        ("Host", "custom.example:9000"),
        ("Authorization", "stale"),
        ("X-Amz-Date", "20000101T000000Z"),
        ("x-amz-security-token", "stale-token"),
        ("X-Amz-Content-SHA256", "deadbeef"),
        ("Range", "bytes=0-9"),
        ("Accept-Encoding", "identity"),
        # botocore strips names for SignedHeaders only, which can reorder them.
        (" X-Pad", "p"),
        ("X-Tab\t", "t"),
    ]  # fmt: skip
    chosen = rng.sample(pool, rng.randint(0, 8))
    if rng.random() < 0.08:
        chosen.append(("Date", "Mon, 01 Jan 2001 00:00:00 GMT"))
    rng.shuffle(chosen)
    return dict(chosen)


def random_case(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    service, s3 = rng.choice(SERVICES)
    scheme = rng.choice(["http", "https"])
    port = rng.choice(PORTS)
    netloc = rng.choice(HOSTS) + (f":{port}" if port is not None else "")
    url = f"{scheme}://{netloc}{random_path(rng)}{random_query(rng)}"
    if rng.random() < 0.05:
        url += "#fragment"
    body = rng.choice([b"", b"", b"{}", rng.randbytes(rng.randint(1, 300))])
    payload_hash = None
    unsigned_via_config = False
    roll = rng.random()
    if roll < 0.25:
        payload_hash = UNSIGNED_PAYLOAD
        unsigned_via_config = s3 and rng.random() < 0.5
    elif roll < 0.35:
        payload_hash = hashlib.sha256(body).hexdigest()
    elif roll < 0.4:
        payload_hash = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    seconds = rng.randint(1_262_304_000, 2_208_988_800)  # 2010 .. 2040
    when = datetime.fromtimestamp(seconds, UTC)
    zone = rng.random()
    if zone < 0.4:
        when = when.replace(tzinfo=None)
    elif zone < 0.6:
        when = when.astimezone(ODD_TZ)
    return {
        "method": rng.choice(["GET", "PUT", "POST", "DELETE", "HEAD", "get"]),
        "url": url,
        "headers": random_headers(rng, body),
        "body": body,
        "creds": rng.choice(CREDS),
        "region": rng.choice(["us-east-1", "eu-west-1", "ap-southeast-2"]),
        "service": service,
        "s3": s3,
        "when": when,
        "payload_hash": payload_hash,
        "unsigned_via_config": unsigned_via_config,
    }


N_CASES = 800


@pytest.mark.parametrize("seed", range(N_CASES))
def test_matches_botocore(seed: int) -> None:
    case = random_case(seed)
    given = dict(case["headers"])
    signer = SigV4Signer(case["creds"], case["region"], case["service"], s3=case["s3"])
    ours = signer.sign(
        case["method"], case["url"], case["headers"], case["body"],
        payload_hash=case["payload_hash"], timestamp=case["when"],
    )  # fmt: skip
    theirs = botocore_sign(**case)
    mine = ours_minus_added_host(ours, given)
    for name in ("Authorization", "X-Amz-Date", "Date", "X-Amz-Security-Token",
                 "X-Amz-Content-SHA256"):  # fmt: skip
        assert get_ci(mine, name) == get_ci(theirs, name), (name, case)
    # Same header set, same spelling, same values: nothing extra, nothing lost.
    assert sorted(mine) == sorted(theirs), case
    assert case["headers"] == given, "caller's mapping must not be modified"
    if not any(k.lower() == "host" for k in given):
        assert ours["Host"] == _host_from_url(case["url"])


@pytest.mark.parametrize(("service", "s3"), SERVICES)
def test_prepared_shapes_reused_across_times_tokens_and_secrets(service: str, s3: bool) -> None:
    """The load path: one signer, few request shapes, each signed again and again (its
    prepared canonical request reused) while the time moves and the token and secret
    rotate. Every signature must still be botocore's."""
    creds = Credentials(AKID, SECRET)  # mutable, like a refreshing provider
    signer = SigV4Signer(creds, "eu-west-1", service, s3=s3)
    cases = [random_case(seed) for seed in range(60)]
    rotations = [("tok-a", SECRET), (None, SECRET), ("tok-b", "rotated/secret"), ("tok-a", SECRET)]
    for round_, (token, secret) in enumerate(rotations):
        creds.token, creds.secret_key = token, secret
        for index, case in enumerate(cases):
            when = case["when"] + timedelta(seconds=round_ * 3_601 + index)
            given = dict(case["headers"])
            ours = signer.sign(
                case["method"], case["url"], case["headers"], case["body"],
                payload_hash=case["payload_hash"], timestamp=when,
            )  # fmt: skip
            theirs = botocore_sign(
                **{**case, "service": service, "s3": s3, "region": "eu-west-1", "when": when,
                   "creds": StaticCredentials(AKID, secret, token),
                   "unsigned_via_config": s3 and case["unsigned_via_config"]},
            )  # fmt: skip
            assert sorted(ours_minus_added_host(ours, given)) == sorted(theirs), (round_, case)
    assert 0 < len(signer._shapes) <= 256


def test_generated_cases_cover_the_brief() -> None:
    cases = [random_case(seed) for seed in range(N_CASES)]
    urls = [c["url"] for c in cases]
    assert {c["method"].upper() for c in cases} == {"GET", "PUT", "POST", "DELETE", "HEAD"}
    assert any(c["s3"] and c["payload_hash"] == UNSIGNED_PAYLOAD for c in cases)
    assert any(c["unsigned_via_config"] for c in cases)
    assert any(not c["s3"] and c["payload_hash"] for c in cases)
    assert any(c["creds"].token for c in cases) and any(not c["creds"].token for c in cases)
    assert any("Date" in c["headers"] for c in cases)
    assert any(c["body"] == b"" for c in cases) and any(len(c["body"]) > 50 for c in cases)
    for needle in ("//", "/./", "%2F", "~", "+", "=", " ", "ü", ":80/", ":443/", ":8000"):
        assert any(needle in u for u in urls), needle
    assert any(u.startswith("https://") and ":80/" in u for u in urls)
    assert any(u.startswith("http://") and ":443/" in u for u in urls)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://dynamodb.us-east-1.amazonaws.com/", "dynamodb.us-east-1.amazonaws.com"),
        ("https://h.example:443/", "h.example"),
        ("http://h.example:80/", "h.example"),
        ("http://h.example:443/", "h.example:443"),
        ("https://h.example:80/", "h.example:80"),
        ("http://127.0.0.1:8000/", "127.0.0.1:8000"),
        ("https://H.Example/", "h.example"),
        ("https://user:pw@h.example:9000/", "h.example:9000"),
        ("http://[::1]:4566/", "[::1]:4566"),
        ("https://[::1]/", "[::1]"),
        ("http://[FE80::1%25eth0]:81/", "[fe80::1%25eth0]:81"),
        ("http://[::ffff:1.2.3.4]/", "[::ffff:1.2.3.4]"),
        # A zone id botocore's pattern rejects: no brackets (its quirk, matched).
        ("http://[fe80::1%25en$0]:81/", "fe80::1%25en$0:81"),
        # Likewise when the URL holds a tab/CR/LF (urlsplit drops them silently).
        ("http://[::1]:81/a\tb", "::1:81"),
    ],
)
def test_host_header(url: str, host: str) -> None:
    out = SigV4Signer(CREDS[0], "us-east-1", "sqs").sign("GET", url, None, b"")
    assert out["Host"] == host == _host_from_url(url)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8333/b/p01/978", "http://h:81/b/a\tb", "http://h/b/k\n?x=1", "http://h\r/b/k", "http://h/b/k#f"],
)
def test_s3_urls_with_whitespace_or_fragment_sign_as_botocore(url: str) -> None:
    """S3 URLs are split by a pattern, except where urlsplit has rules of its own (tab, CR,
    LF dropped; a fragment cut off): those take urlsplit's path, as botocore does."""
    ours = SigV4Signer(CREDS[0], "us-east-1", "s3", s3=True).sign("PUT", url, None, b"x", timestamp=DOC_TIME)
    theirs = botocore_sign(
        method="PUT", url=url, headers={}, body=b"x", creds=CREDS[0], region="us-east-1", service="s3", s3=True,
        when=DOC_TIME,
    )  # fmt: skip
    assert get_ci(list(ours.items()), "Authorization") == get_ci(theirs, "Authorization")


# --- signing-key cache --------------------------------------------------------------


def test_signing_key_derived_once_per_day_and_secret() -> None:
    creds = Credentials(AKID, SECRET)  # mutable, like a provider that rotates
    signer = SigV4Signer(creds, "us-east-1", "dynamodb")
    url = "https://dynamodb.us-east-1.amazonaws.com/"
    day1 = datetime(2024, 5, 1, 0, 0, 1, tzinfo=UTC)
    day2 = day1 + timedelta(days=1)
    with mock.patch.object(signer, "signing_key", wraps=signer.signing_key) as derive:
        for i in range(200):
            signer.sign("POST", url, None, b"{}", timestamp=day1 + timedelta(seconds=i * 60))
        assert derive.call_count == 1
        signer.sign("POST", url, None, b"{}", timestamp=day2)
        assert derive.call_count == 2
        signer.sign("POST", url, None, b"{}", timestamp=day1)  # still cached
        assert derive.call_count == 2
        creds.secret_key = "rotated-secret"
        out = signer.sign("POST", url, None, b"{}", timestamp=day2)
        assert derive.call_count == 3
        signer.sign("POST", url, None, b"{}", timestamp=day2 + timedelta(hours=3))
        assert derive.call_count == 3
    # The rotated secret really is the one used.
    theirs = botocore_sign(
        method="POST", url=url, headers={}, body=b"{}",
        creds=StaticCredentials(AKID, "rotated-secret"), region="us-east-1",
        service="dynamodb", s3=False, when=day2,
    )  # fmt: skip
    assert get_ci(theirs, "Authorization") == [out["Authorization"]]


def test_signing_key_cache_stays_small() -> None:
    signer = SigV4Signer(CREDS[0], "us-east-1", "sqs")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for day in range(100):
        signer.sign("GET", "https://h.example/", None, b"", timestamp=start + timedelta(days=day))
    assert len(signer._keys) <= 8


# --- credentials ------------------------------------------------------------------


def test_accepts_botocore_and_bare_credentials() -> None:
    url = "https://sqs.us-east-1.amazonaws.com/"
    expected = SigV4Signer(StaticCredentials(AKID, SECRET, "tok"), "us-east-1", "sqs").sign(
        "POST", url, None, b"x", timestamp=DOC_TIME
    )
    refreshable = RefreshableCredentials(
        AKID, SECRET, "tok", datetime.now(UTC) + timedelta(hours=1),
        refresh_using=lambda: {}, method="test",
    )  # fmt: skip
    for creds in (
        Credentials(AKID, SECRET, "tok"),
        refreshable,
        ReadOnlyCredentials(AKID, SECRET, "tok"),  # no get_frozen_credentials: adapted
    ):
        out = SigV4Signer(creds, "us-east-1", "sqs").sign("POST", url, None, b"x", timestamp=DOC_TIME)
        assert out == expected
    assert expected["X-Amz-Security-Token"] == "tok"


def test_default_timestamp_is_now_utc() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    out = SigV4Signer(CREDS[0], "us-east-1", "sqs").sign("GET", "https://h.example/", None, b"")
    after = datetime.now(UTC)
    stamped = datetime.strptime(out["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert before <= stamped <= after
    assert f"/{out['X-Amz-Date'][:8]}/us-east-1/sqs/aws4_request" in out["Authorization"]


# --- published AWS examples ---------------------------------------------------------


def _doc_cases() -> Iterator[tuple[str, str, dict[str, str], str, str]]:
    # AWS SigV4 test suite "get-vanilla" and "get-vanilla-query-order-key-case".
    yield ("https://example.amazonaws.com/", "service", {}, "host;x-amz-date",
           "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")  # fmt: skip
    yield ("https://example.amazonaws.com/?Param2=value2&Param1=value1", "service", {},
           "host;x-amz-date",
           "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")  # fmt: skip
    # The IAM ListUsers example from the SigV4 signing documentation.
    yield ("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", "iam",
           {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
           "content-type;host;x-amz-date",
           "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")  # fmt: skip


@pytest.mark.parametrize(("url", "service", "headers", "signed", "sig"), list(_doc_cases()))
def test_published_examples(url: str, service: str, headers: dict[str, str], signed: str, sig: str) -> None:
    creds = StaticCredentials(AKID, SECRET)
    out = SigV4Signer(creds, "us-east-1", service).sign("GET", url, headers, b"", timestamp=DOC_TIME)
    expected = (
        f"AWS4-HMAC-SHA256 Credential={AKID}/20150830/us-east-1/{service}/aws4_request, "
        f"SignedHeaders={signed}, Signature={sig}"
    )
    assert out["Authorization"] == expected
    assert out["X-Amz-Date"] == "20150830T123600Z"
    theirs = botocore_sign(
        method="GET", url=url, headers=headers, body=b"", creds=creds,
        region="us-east-1", service=service, s3=False, when=DOC_TIME,
    )  # fmt: skip
    assert get_ci(theirs, "Authorization") == [expected]


def test_published_iam_intermediate_steps() -> None:
    signer = SigV4Signer(StaticCredentials(AKID, SECRET), "us-east-1", "iam")
    key = signer.signing_key(SECRET, "20150830")
    assert key.hex() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    to_sign = {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        "host": "iam.amazonaws.com",
        "x-amz-date": "20150830T123600Z",
    }
    block, signed = signer.canonical_headers(to_sign)
    request = signer.canonical_request(
        "GET", signer.canonical_uri("/"),
        signer.canonical_query_string("Version=2010-05-08&Action=ListUsers"),
        block, signed, hashlib.sha256(b"").hexdigest(),
    )  # fmt: skip
    sts = signer.string_to_sign("20150830T123600Z", signer.credential_scope("20150830"), request)
    assert sts.splitlines()[-1] == ("f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59")
    assert signer.signature(key, sts) == ("5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")


# --- S3 variant specifics -------------------------------------------------------------


def test_s3_path_is_signed_verbatim_and_others_normalised() -> None:
    s3 = SigV4Signer(CREDS[0], "us-east-1", "s3", s3=True)
    other = SigV4Signer(CREDS[0], "us-east-1", "sqs")
    path = "/bucket//a/./b%2Fc ü"
    assert s3.canonical_uri(path) == path
    assert other.canonical_uri(path) == "/bucket/a/b%252Fc%20%C3%BC"
    assert other.canonical_uri("") == "/"


def test_s3_content_sha256_header() -> None:
    signer = SigV4Signer(CREDS[1], "us-east-1", "s3", s3=True)
    url = "https://bucket.s3.amazonaws.com/key"
    hashed = signer.sign("PUT", url, None, b"data", timestamp=DOC_TIME)
    assert hashed["X-Amz-Content-SHA256"] == hashlib.sha256(b"data").hexdigest()
    unsigned = signer.sign("PUT", url, None, b"data", payload_hash=UNSIGNED_PAYLOAD)
    assert unsigned["X-Amz-Content-SHA256"] == UNSIGNED_PAYLOAD
    empty = signer.sign("GET", url, None, b"", timestamp=DOC_TIME)
    assert empty["X-Amz-Content-SHA256"] == hashlib.sha256(b"").hexdigest()
    plain = SigV4Signer(CREDS[1], "us-east-1", "sqs").sign("POST", url, None, b"x")
    assert "X-Amz-Content-SHA256" not in plain


@pytest.mark.parametrize("key_length", [0, 32, 64, 65, 200])
def test_keyed_sha256_is_hmac_sha256(key_length: int) -> None:
    key = bytes(range(256))[:key_length]
    keyed = KeyedSha256.of(key)
    for message in (b"", b"AWS4-HMAC-SHA256\n20150830T123600Z", bytes(1000)):
        assert keyed.hexdigest(message) == hmac.new(key, message, hashlib.sha256).hexdigest()
