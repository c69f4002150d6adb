"""What DynamoDB is to a client: its names and the JSON protocol's target prefix."""

from __future__ import annotations

from writers.calls import ServiceInfo

SERVICE = ServiceInfo(name="DynamoDB", boto3_name="dynamodb", signing_name="dynamodb", endpoint_env="DYNAMODB")
TARGET_PREFIX = "DynamoDB_20120810."
