"""Where things are and the names every test shares: the project root, the Locust command,
the region, one user class per strategy, the emulators' credentials."""

from __future__ import annotations

import sys
from pathlib import Path

from writers.emulators import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
from writers.strategies import STRATEGIES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILES = PROJECT_ROOT / "locustfiles"
LOCUST = PROJECT_ROOT / ".venv" / "bin" / "locust"
if not LOCUST.exists():  # a venv somewhere else: the locust next to this interpreter
    LOCUST = Path(sys.executable).parent / "locust"
DYNAMODB_LOCUSTFILE = LOCUSTFILES / "dynamodb.py"
REGION = "us-east-1"
USER_CLASSES = [name.capitalize() + "User" for name in STRATEGIES]  # one per strategy, as the locustfiles make them
CREDENTIALS = {"AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY}


def locustfile(service: str) -> Path:
    """The service's locustfile."""
    return LOCUSTFILES / f"{service}.py"
