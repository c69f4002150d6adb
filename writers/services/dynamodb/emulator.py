"""DynamoDB's local stand-in: dynalite (npm), moto as the fallback."""

from __future__ import annotations

from pathlib import Path

from writers.emulators import MOTO, Emulator, Launch, node_launch, npm_unavailable, package_bin


def _dynalite_launch(workdir: Path, bind: str, port: int | None) -> Launch:
    """dynalite (npm): in memory, tables usable at once."""

    def args(package_dir: Path, port: int) -> list[str]:
        return [
            str(package_bin(package_dir, "dynalite")), "--host", bind, "--port", str(port),
            "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0",
        ]  # fmt: skip

    return node_launch("dynalite", bind, port, args)


# dynalite enforces 25-item batches and reports real consumed capacity.
EMULATORS = (Emulator("dynalite", _dynalite_launch, npm_unavailable("dynalite")), MOTO)
