"""SQS's local stand-ins: fauxqs (npm, bound to the loopback), moto as the fallback."""

from __future__ import annotations

from pathlib import Path

from writers.emulators import SCRIPTS_DIR, Launch, node_launch, npm_emulator, with_moto


def _fauxqs_launch(workdir: Path, bind: str, port: int | None) -> Launch:
    """fauxqs 1.9.x (npm; 2.x needs Node 22), started through its programmatic entry.

    It always listens on 0.0.0.0: the bind preload rewrites that. Its queue URLs name
    sqs.<region>.localhost, which does not resolve; clients must send to the endpoint
    (boto3's JSON protocol does), never to the queue URL."""

    def args(package_dir: Path, port: int) -> list[str]:
        return [str(SCRIPTS_DIR / "fauxqs_server.mjs"), str(package_dir.parent), str(port)]

    return node_launch("fauxqs", bind, port, args, preload=True)


MOTO_WARNING = (
    "moto's SQS slows down as queues grow (about 35 sends/s at 1,000 messages); "
    "use it for correctness, not for throughput numbers"
)
EMULATORS = with_moto(npm_emulator("fauxqs", _fauxqs_launch), MOTO_WARNING)
