"""``python -m pipelines.report DIR``: write the report of a dataset directory of any kind."""
from __future__ import annotations

import argparse
import sys

import pipelines.report as package
from pipelines.report.registry import write_report
from schemas.errors import UserError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.report", description=package.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", metavar="DIR", help="a dataset directory (shards + _manifest.json)")
    parser.add_argument("--out", default=None, help="where to write report.md and the plots (default DIR/_report)")
    args = parser.parse_args(argv)
    try:
        path = write_report(args.directory, args.out)
    except ImportError as err:
        print(f"error: {err}: install matplotlib (pip install matplotlib)", file=sys.stderr)
        return 1
    except (UserError, FileNotFoundError) as err:  # a missing or invalid dataset: one line; a bug: its traceback
        print(f"error: {' '.join(line.strip() for line in str(err).splitlines() if line.strip())}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
