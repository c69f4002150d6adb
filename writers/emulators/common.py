"""What every part of the emulators shares: the fake credentials, addresses, paths, the error."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("writers.emulators")

#: Fake credentials every emulator here accepts. SeaweedFS is given an identities
#: file with exactly this pair and checks SigV4 signatures against it.
LOCAL_ACCESS_KEY = "AKIALOCALEMULATOR000"
LOCAL_SECRET_KEY = "local-emulator-secret-key-not-for-aws"

LOOPBACK = "127.0.0.1"
#: The bind preload (emulator_scripts/bind_loopback.cjs) makes wildcard listens use this address.
BIND_ENV = "AWS_LOAD_EMULATOR_BIND"

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "emulator_scripts"
BIND_PRELOAD = SCRIPTS_DIR / "bind_loopback.cjs"
EMULATORS_DIR_ENV = "AWS_LOAD_EMULATORS_DIR"


class EmulatorError(Exception):
    """An emulator could not be found, started or reached. The message is one line."""
