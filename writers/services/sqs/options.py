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

    def reading_flag(self) -> str:
        return f"--sqs-mode {self.mode}" if self.mode != "produce" else ""


def int_between(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"--{name} must be a whole number, not {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"--{name} must be between {low} and {high} (got {value})")


def add_arguments(parser: Any) -> None:
    """The service's own flags (besides --queue)."""
    parser.add_argument(
        "--sqs-mode",
        default="produce",
        help="produce: send; consume: receive and delete; both: each task sends, then receives as many",
    )
    parser.add_argument(
        "--wait-seconds", type=int, default=5, help="ReceiveMessage long polling, 0-20 s (below --timeout)"
    )
    parser.add_argument("--max-messages", type=int, default=MAX_BATCH, help="MaxNumberOfMessages per receive, 1-10")
    parser.add_argument(
        "--message-groups", type=int, default=1, help="FIFO queues: MessageGroupIds the messages are spread over"
    )


def read_options(options: Any, name: str, batch: int, payload_bytes: int) -> SQSOptions:
    """Check the service's own flags (the name is checked already); ConfigError with one clear line."""
    mode = str(getattr(options, "sqs_mode", "produce")).strip().lower()
    wait = getattr(options, "wait_seconds", 5)
    max_messages = getattr(options, "max_messages", MAX_BATCH)
    groups = getattr(options, "message_groups", 1)
    if mode not in MODES:
        raise ConfigError(f"--sqs-mode must be one of {', '.join(MODES)} (got {mode!r})")
    int_between("wait-seconds", wait, 0, MAX_WAIT_SECONDS)
    int_between("max-messages", max_messages, 1, MAX_BATCH)
    int_between("message-groups", groups, 1, 100_000)
    if groups > 1 and not name.endswith(FIFO_SUFFIX):
        raise ConfigError(f"--message-groups applies to FIFO queues only (a --queue name ending in {FIFO_SUFFIX})")
    if mode == "consume" and int(getattr(options, "max_records", 0) or 0) != 0:
        raise ConfigError("--max-records counts sends: it must be 0 with --sqs-mode consume (use -t to end the run)")
    timeout = float(getattr(options, "timeout", 10.0))
    if mode != "produce" and wait >= timeout:
        raise ConfigError(f"--wait-seconds {wait} must be below --timeout ({timeout:g} s): a long poll lasts that long")
    if batch > 1 and batch * payload_bytes > MAX_MESSAGE_BYTES:
        fits = max(1, MAX_MESSAGE_BYTES // payload_bytes)
        raise ConfigError(
            f"--batch {batch} x --payload-bytes {payload_bytes} = {batch * payload_bytes} bytes, over the "
            f"{MAX_MESSAGE_BYTES} one SendMessageBatch may carry: use --batch {fits} or less"
        )
    return SQSOptions(name, batch, payload_bytes, mode, int(wait), int(max_messages), int(groups))
