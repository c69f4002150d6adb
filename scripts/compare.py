#!/usr/bin/env python3
"""Compare the writer strategies on the same fixed number of records, like the write-ups
(the `comparison` package).

    .venv/bin/python scripts/compare.py [--services dynamodb,s3,sqs] [--strategies all]
        [--records 2000] [--target local|aws|URL] [--latency-ms 80] [--keep-alive both|on|off]
        [--users 1] [--concurrency 32] [--batch 1] [--out DIR] [-- extra Locust flags]

One headless Locust run per service, strategy and keep-alive setting, one after another;
a table, a chart and results.json at the end. ``--help`` lists the flags;
``comparison/__init__.py`` says how each figure is measured.

Exit codes: 0 every run wrote exactly ``--records`` records; 1 a run failed; 2 bad input
(one line on stderr); 130 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from comparison.cli import main
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from comparison.cli import main

if __name__ == "__main__":
    sys.exit(main())
