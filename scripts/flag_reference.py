#!/usr/bin/env python3
"""Write docs/reference/flags.md from the locustfiles' own parsers.

    .venv/bin/python scripts/flag_reference.py           # (re)write the page
    .venv/bin/python scripts/flag_reference.py --check   # exit 1 if the page is not what it would write

Run it after adding or changing a flag; tests/test_docs.py fails while a flag is missing from the page.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from aws_locust.flag_reference import read_locustfile, render  # noqa: E402

PAGE = ROOT / "docs" / "reference" / "flags.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if the page differs")
    args = parser.parse_args()
    locustfiles = sorted((ROOT / "locustfiles").glob("*.py"))
    text = render({f"locustfiles/{path.name}": read_locustfile(path) for path in locustfiles})
    if args.check:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE.relative_to(ROOT)} is out of date: run scripts/flag_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
