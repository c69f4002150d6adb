"""DynamoDB's local stand-in: dynalite (npm), moto as the fallback."""

from __future__ import annotations

from pathlib import Path

from writers.emulators import Launch, node_launch, npm_emulator, package_bin, with_moto


def _dynalite_launch(workdir: Path, bind: str, port: int | None) -> Launch:
    """dynalite (npm): in memory, tables usable at once."""

    def args(package_dir: Path, port: int) -> list[str]:
        return [
            str(package_bin(package_dir, "dynalite")), "--host", bind, "--port", str(port),
            "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0",
        ]  # fmt: skip

    return node_launch("dynalite", bind, port, args)


# dynalite enforces 25-item batches and reports real consumed capacity.
EMULATORS = with_moto(npm_emulator("dynalite", _dynalite_launch))
