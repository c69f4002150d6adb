"""`locust -f locustfiles/<service>.py --help` lists our flags too.

Locust prints --help before it imports a locustfile, so the flags a locustfile adds (through
`events.init_command_line_parser`) never reach the help. scripts/setup.sh installs a one-line
`.pth` startup hook into the venv: when the command line has -h or --help, it runs this file,
which imports the locustfiles named by -f (or LOCUST_LOCUSTFILE, or locust.conf) the way Locust
itself would, before Locust builds the parser for the help. Their listeners are then in place and
our flag groups print after Locust's own options, which stay as they are.

Without -h/--help the hook costs one list look-up at interpreter start and this file is never read.
"""

from __future__ import annotations

import os
import sys

DONE = "_aws_load_help_loaded"  # a venv's site-packages may be processed twice (lib and lib64)


def is_locust_command(argv: list[str]) -> bool:
    program = argv[0] if argv else ""
    return os.path.basename(program) == "locust" or program.endswith(os.path.join("locust", "__main__.py"))


def load_named_locustfiles(argv: list[str]) -> None:
    """Import each local locustfile -f names; anything unusual is left to Locust to report."""
    from locust.argument_parser import get_empty_argument_parser, parse_locustfile_paths
    from locust.util.load_locustfile import load_locustfile

    options, _ = get_empty_argument_parser(add_help=False).parse_known_args(argv[1:])
    names = [name.strip() for name in str(options.locustfile).split(",") if name.strip()]
    # "-" (from the master) and URLs are not fetched for a help text; a missing file is Locust's to report
    for path in parse_locustfile_paths([name for name in names if os.path.exists(name)]):
        load_locustfile(path)


def run(argv: list[str]) -> None:
    """Called by the .pth hook with the real sys.argv (runpy swaps argv[0] while it runs a file)."""
    if getattr(sys, DONE, False) or not is_locust_command(argv):
        return
    setattr(sys, DONE, True)
    try:
        load_named_locustfiles(argv)
    except (Exception, SystemExit) as error:  # the help must still print: Locust's own, at least
        sys.stderr.write(f"--help: could not load the locustfile, its own flags are not listed ({error})\n")
