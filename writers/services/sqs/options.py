"""SQS's options: produce, consume or both, long polling, FIFO message groups, and their limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from writers.errors import ConfigError
from writers.services.base import WorkloadOptions

MAX_BATCH = 10  # entries per SendMessageBatch / DeleteMessageBatch, messages per ReceiveMessage
MAX_MESSAGE_BYTES = 256 * 1024  # one message, and the sum of one batch's messages
MAX_WAIT_SECONDS = 20  # ReceiveMessage long polling
MODES = ("produce", "consume", "both")
FIFO_SUFFIX = ".fifo"


@dataclass(frozen=True)
class SQSOptions(WorkloadOptions):
    mode: str = "produce"  # produce | consume | both
    wait_seconds: int = 5  # ReceiveMessage long polling
    max_messages: int = MAX_BATCH  # MaxNumberOfMessages per ReceiveMessage
    message_groups: int = 1  # FIFO: MessageGroupIds the messages are spread over

    @property
    def fifo(self) -> bool:
        return self.resource.endswith(FIFO_SUFFIX)


def int_between(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"--{name} must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"--{name} must be between {low} and {high} (got {value})")
