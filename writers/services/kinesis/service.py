"""What Kinesis is to a client: its names, the JSON 1.1 target prefix, its code for a missing stream."""

from __future__ import annotations

from writers.calls import ServiceInfo

SERVICE = ServiceInfo(name="Kinesis", boto3_name="kinesis", signing_name="kinesis", endpoint_env="KINESIS")
TARGET_PREFIX = "Kinesis_20131202."


MISSING_STREAM = "ResourceNotFoundException"
