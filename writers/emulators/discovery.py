"""Finding the npm emulators (and a node new enough) and launching them with the bind preload."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from writers.emulators.common import BIND_ENV, BIND_PRELOAD, EMULATORS_DIR_ENV, PROJECT_ROOT, EmulatorError
from writers.emulators.launch import Emulator, Launch
from writers.emulators.ports import api_port, which


def node_modules_dir() -> Path:
    """Where the npm emulators are installed."""
    configured = os.environ.get(EMULATORS_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return PROJECT_ROOT / "emulators" / "node_modules"


@functools.lru_cache(maxsize=8)
def _node_major(node: str) -> int | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
        return int(out.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def npm_package(package: str) -> tuple[Path | None, str | None]:
    """(package dir, reason it is unusable) for an npm emulator."""
    node = shutil.which("node")
    if node is None:
        return None, "node is not on PATH"
    package_dir = node_modules_dir() / package
    manifest = package_dir / "package.json"
    if not manifest.is_file():
        return None, f"npm package {package} not found in {node_modules_dir()} (run `npm ci` in emulators/)"
    try:
        meta = json.loads(manifest.read_text())
    except (OSError, ValueError) as exc:
        return None, f"cannot read {manifest}: {exc}"
    wanted = str(meta.get("engines", {}).get("node", "")).strip()
    if wanted.startswith(">="):
        try:
            minimum = int(wanted[2:].strip().split(".")[0])
        except ValueError:
            minimum = 0
        major = _node_major(node)
        if major is not None and major < minimum:
            return None, f"{package} {meta.get('version', '?')} needs Node {wanted}, found Node {major}"
    return package_dir, None


def npm_unavailable(package: str) -> Callable[[], str | None]:
    """Why the npm emulator ``package`` cannot run here (None if it can), asked when needed."""
    return lambda: npm_package(package)[1]


def npm_emulator(package: str, launch: Callable[[Path, str, int | None], Launch]) -> Emulator:
    """An npm emulator: named after its package, and unavailable while the package (or node) is."""
    return Emulator(package, launch, npm_unavailable(package))


def node_launch(
    package: str, bind: str, port: int | None, args: Callable[[Path, int], list[str]], *, preload: bool = False
) -> Launch:
    """Run an npm emulator: ``node`` and ``args(package dir, port)``. With ``preload`` it runs
    through bind_loopback.cjs, which binds the wildcard listens of a server that has no host
    option (it would listen on every interface) to ``bind``, set here whatever the environment says."""
    package_dir, reason = npm_package(package)
    if package_dir is None:
        raise EmulatorError(f"{package} unavailable: {reason}")
    port = api_port(bind, port)
    node = [which("node"), "--require", str(BIND_PRELOAD)] if preload else [which("node")]
    return Launch([*node, *args(package_dir, port)], port, (port,), env={BIND_ENV: bind} if preload else {})


def package_bin(package_dir: Path, name: str) -> Path:
    """The script an npm package names as its command ``name`` (package.json "bin")."""
    meta = json.loads((package_dir / "package.json").read_text())
    bin_field = meta.get("bin", "cli.js")
    return package_dir / (bin_field if isinstance(bin_field, str) else bin_field.get(name, "cli.js"))
