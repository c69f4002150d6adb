"""What SQS is to a client: its names, the JSON protocol's target prefix, its error codes for a missing queue."""

from __future__ import annotations

from writers.calls import ServiceInfo

SERVICE = ServiceInfo(name="SQS", boto3_name="sqs", signing_name="sqs", endpoint_env="SQS")
TARGET_PREFIX = "AmazonSQS."


QUERY_ERROR_HEADER = "x-amzn-query-error"
# SQS's codes for "no such queue": query-compatible (boto3 reports this one) and JSON.
MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
