"""``python -m schemas validate DIR [DIR ...]``: check dataset directories against their declared schema."""
from __future__ import annotations

import argparse
import sys

from schemas.dataset import validate_dataset
from schemas.manifest import read_manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="validate dataset directories (manifest, shards, rows)")
    validate.add_argument("directories", nargs="+", metavar="DIR")
    validate.add_argument("--schema-only", action="store_true", help="skip the per-row checks")
    validate.add_argument("--max-problems", type=int, default=100)
    args = parser.parse_args(argv)

    failed = 0
    for directory in args.directories:
        problems = validate_dataset(directory, check_rows=not args.schema_only, max_problems=args.max_problems)
        if problems:
            failed += 1
            print(f"{directory}: INVALID ({len(problems)} problem(s){', first shown' if len(problems) >= args.max_problems else ''})")
            for problem in problems:
                print(f"  - {problem}")
        else:
            manifest = read_manifest(directory)
            print(f"{directory}: ok ({manifest.kind} v{manifest.schema_version}, {manifest.row_count} rows "
                  f"in {len(manifest.shards)} shard(s), {sum(manifest.dropped.values())} input records dropped)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
