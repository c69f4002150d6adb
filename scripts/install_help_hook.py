#!/usr/bin/env python3
"""Install the `--help` startup hook into the running interpreter's environment (a venv).

    .venv/bin/python scripts/install_help_hook.py      # scripts/setup.sh and the Dockerfile run it

Locust prints --help before it imports a locustfile, so the flags a locustfile adds would not
show. This writes one line into site-packages (aws_load_writers_help.pth): Python runs it at
every start, and unless -h or --help is on the command line it is one list look-up and nothing
else. With either, it runs locustfiles/aws_locust/help_hook.py, which imports the locustfiles
-f names before Locust builds its help.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

HOOK = Path(__file__).resolve().parent.parent / "locustfiles" / "aws_locust" / "help_hook.py"
PTH_NAME = "aws_load_writers_help.pth"


def pth_line(hook: Path) -> str:
    # runpy swaps sys.argv[0] while it runs a file: hand the real argv to run() afterwards
    asked = '("-h" in sys.argv or "--help" in sys.argv)'
    return f'import sys; {asked} and __import__("runpy").run_path({str(hook)!r})["run"](sys.argv)\n'


def main() -> int:
    target = Path(sysconfig.get_paths()["purelib"]) / PTH_NAME
    target.write_text(pth_line(HOOK))
    print(f"installed {target} -> {HOOK}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
