"""Kinesis's local stand-ins: kinesalite (npm, bound to the loopback), moto as the fallback."""

from __future__ import annotations

from pathlib import Path

from writers.emulators import Launch, node_launch, npm_emulator, package_bin, with_moto


def _kinesalite_launch(workdir: Path, bind: str, port: int | None) -> Launch:
    """kinesalite 3.3.x (npm): in memory, streams ACTIVE at once. It has no host option and
    listens on every interface: the bind preload binds it to `bind` (127.0.0.1)."""

    def args(package_dir: Path, port: int) -> list[str]:
        return [
            str(package_bin(package_dir, "kinesalite")), "--port", str(port), "--shardLimit", "1000",
            "--createStreamMs", "0", "--deleteStreamMs", "0", "--updateStreamMs", "0",
        ]  # fmt: skip

    return node_launch("kinesalite", bind, port, args, preload=True)


MOTO_WARNING = (
    "moto's Kinesis is not safe for concurrent writes to a shard (two puts can take one sequence "
    "number: an acknowledged record is lost); use it for correctness one call at a time, not for load"
)
EMULATORS = with_moto(npm_emulator("kinesalite", _kinesalite_launch), MOTO_WARNING)
