"""``python -m restflow_parity`` (also the ``restflow-parity`` command).

One subcommand so far: ``merge``, which merges parity reports (``merge.py``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from restflow_parity.verdict import _merge as merge

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    name = Path(sys.argv[0]).name if sys.argv else ""
    parser = argparse.ArgumentParser(
        prog=name if name and name != "__main__.py" else "python -m restflow_parity",
        description="restflow-parity's command line.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    merging = commands.add_parser(
        "merge",
        help="merge parity reports from several jobs into one verdict",
        description=merge.__doc__.splitlines()[0] if merge.__doc__ else None,
    )
    merge.add_arguments(merging)
    options = parser.parse_args(argv)
    return merge.run(options)


if __name__ == "__main__":
    sys.exit(main())
