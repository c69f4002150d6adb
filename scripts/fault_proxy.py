#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of any AWS-compatible endpoint (the `fault_proxy` package).

    python scripts/fault_proxy.py --upstream http://127.0.0.1:8000 [--listen 127.0.0.1:0] [options]

Latency, throttles in each service's own format (a token bucket per resource, or per
partition), server errors, dropped connections, lost writes; ``--help`` lists the flags,
``fault_proxy/__init__.py`` says how it works. Runs from any folder with the project's
Python (it imports the packages from the checkout it sits in when the project is not
installed). SIGTERM / Ctrl-C: clean exit 0. Bad flags: one line on stderr, exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from fault_proxy.cli import main
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from fault_proxy.cli import main

if __name__ == "__main__":
    sys.exit(main())
