"""Output files (--summary-json, --report-dir) written whole or not at all.

A file is written to a temporary name in its own folder, flushed to disk, then renamed
over the old one (a rename within a folder is atomic): a full disk or a size limit leaves
any older file as it was, never a truncated one, and the error reaches the caller (the
run then ends with exit code 9, aws_locust.outcome).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: str | Path, data: bytes) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; an output file is read by others
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
