"""`--report-s3-uri s3://bucket/prefix/`: keep the run's report where a pod's files do not vanish.

At the end of any run (headless or web UI, whatever ended it), after the summary and the
reports are written, the master (or the single local process) uploads under the prefix:
each report it wrote (`aws-report-<time>.json` and `.html`: the HTML is one file, plotly.js
inside) and the summary, as `--summary-json` writes it, as `aws-summary-<time>.json` (the
time of the run's last report). Without `--report-dir` the
reports are written to a temporary folder first, removed after the upload.

The bucket is checked before the swarm (a bucket that does not exist or an endpoint that
cannot be reached: one line, exit 2); permission to write is known only when writing, so a
role that may put objects but not list the bucket is accepted. An upload that fails is one
`ERROR` line and exit 9 (aws_locust.outcome), after the run's own result was printed.
The client is boto3's, with its credential chain (IRSA in Kubernetes) and
`AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` honoured, as for any AWS call of the run.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from aws_locust import outcome
from aws_locust.outcome import Verdicts
from aws_locust.report import REPORT_PREFIX
from writers.errors import ConfigError, one_line
from writers.services.s3.service import SERVICE as S3
from writers.target import default_region, resolve_endpoint

logger = logging.getLogger("aws_locust")
FLAG = "--report-s3-uri"
S3_URI = re.compile(r"s3://(?P<bucket>[^/]+)(?:/(?P<prefix>.*))?")
BUCKET_NAME = re.compile(r"(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # AWS's rules for a bucket name
SUMMARY_PREFIX = "aws-summary-"
CONTENT_TYPES = {".json": "application/json", ".html": "text/html; charset=utf-8"}
MISSING_BUCKET = {"404", "NoSuchBucket"}


def add_argument(parser: Any) -> None:
    parser.add_argument(
        FLAG,
        default="",
        include_in_web_ui=False,
        help="at the end of the run, upload the reports (HTML, JSON) and the summary JSON to s3://BUCKET/PREFIX/",
    )


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or ending in "/"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def parse_uri(text: str) -> S3Location:
    found = S3_URI.fullmatch(text.strip())
    if found is None:
        raise ConfigError(f"{FLAG} {text!r} is not an S3 URI like s3://bucket/prefix/")
    bucket, prefix = found["bucket"], (found["prefix"] or "").strip("/")
    if not BUCKET_NAME.fullmatch(bucket):
        raise ConfigError(f"{FLAG} {text!r}: {bucket!r} is not a valid S3 bucket name")
    return S3Location(bucket, f"{prefix}/" if prefix else "")


class ReportKeeper:
    """Master or local process: checks the bucket before the swarm, uploads at the end."""

    def __init__(self) -> None:
        self.location: S3Location | None = None
        self.temporary_dir: Path | None = None  # the reports' folder when the user gave none
        self._client: Any = None

    def prepare(self, options: Any) -> None:
        """Before the swarm: the URI, the bucket, and a folder for the reports."""
        text = str(getattr(options, "report_s3_uri", "") or "").strip()
        if not text:
            self.location = None
            return
        location = parse_uri(text)
        if location == self.location:
            return  # checked at start-up; the web UI starts another test
        region = str(getattr(options, "region", "") or "").strip() or default_region()
        client = resolve_endpoint("aws", S3, region).admin_client()
        try:
            client.head_bucket(Bucket=location.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in MISSING_BUCKET:
                raise ConfigError(f"{FLAG} {location}: no such bucket") from None
            # 403: may write without listing; other answers are for the upload to tell
        except BotoCoreError as exc:
            raise ConfigError(f"{FLAG} {location}: {one_line(exc)}") from None
        self.location, self._client = location, client
        if not str(getattr(options, "report_dir", "") or ""):
            self.temporary_dir = Path(tempfile.mkdtemp(prefix="aws-load-reports-"))
            options.report_dir = str(self.temporary_dir)

    def upload(self, reports: list[Path], summary: bytes, verdicts: Verdicts) -> bool:
        """The reports written and the summary; one ERROR line (exit 9, recorded in `verdicts`) if any
        fails. True when all went."""
        if self.location is None:
            return True
        location = self.location
        summary_name = summary_name_for(reports)
        current = summary_name
        try:
            for path in reports:
                current = path.name
                self._put(location, path.name, path.read_bytes())
            current = summary_name
            self._put(location, summary_name, summary)
        except (BotoCoreError, ClientError, OSError) as exc:
            verdicts.record(outcome.NOT_KEPT, f"error: {FLAG} {location}: could not upload {current}: {one_line(exc)}")
            return False
        finally:
            if self.temporary_dir is not None:
                shutil.rmtree(self.temporary_dir, ignore_errors=True)
        logger.info("reports kept in %s: %s", location, ", ".join([*(p.name for p in reports), summary_name]))
        return True

    def _put(self, location: S3Location, name: str, body: bytes) -> None:
        content_type = CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")
        self._client.put_object(Bucket=location.bucket, Key=location.prefix + name, Body=body, ContentType=content_type)


def summary_name_for(reports: list[Path]) -> str:
    """`aws-summary-<time>.json`, with the time of the run's last report (now if it has none)."""
    stems = [path.stem for path in reports if path.stem.startswith(REPORT_PREFIX)]
    stamp = stems[-1].removeprefix(REPORT_PREFIX) if stems else datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{SUMMARY_PREFIX}{stamp}.json"
