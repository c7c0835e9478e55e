"""``python -m poolgrader autograde <assignment> [--workers N] [--student GLOB]
[--shard K/N]``, ``python -m poolgrader report <assignment> [--csv PATH ...]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m poolgrader",
        description="Grade a class with nbgrader: in parallel, sandboxed, re-checked.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("autograde", help="autograde every submission of an assignment")
    grade.add_argument("assignment", help="assignment id, e.g. 01-pooling-basics")
    grade.add_argument(
        "--workers",
        type=int,
        default=None,
        help="parallel worker processes (default: one per CPU core)",
    )
    grade.add_argument("--student", default="*", help="only students matching this glob")
    grade.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="grade only shard K of N (1 <= K <= N), split by a stable hash of the student "
        "id: N jobs on N machines, sharing a PostgreSQL gradebook, grade the class once",
    )
    grade.add_argument(
        "--timeout",
        type=int,
        default=None,
        help="seconds one cell may run (default: Execute.timeout in the config)",
    )
    grade.add_argument(
        "--figures",
        action="store_true",
        help="draw matplotlib figures into the feedback (slower; nothing is graded on them)",
    )
    commands.add_parser("install-kernelspec", help="install the grading kernelspec into this env")
    report = commands.add_parser(
        "report",
        help="(re)build grading/reports/<assignment>.html and .class.csv from the gradebook "
        "and the grader's CSVs (every shard's)",
    )
    report.add_argument("assignment", help="assignment id, e.g. 01-pooling-basics")
    report.add_argument(
        "--csv",
        action="append",
        type=Path,
        default=None,
        help="the grader's CSV; repeat for several (default: grading/reports/<assignment>.csv "
        "and every shard's <assignment>.shard-K-of-N.csv; a student in several keeps the "
        "newest file's rows)",
    )
    report.add_argument("--output", type=Path, default=None, help="where to write the HTML")
    args = parser.parse_args(argv)
    if args.command == "report":
        return _report(parser, args)
    if args.command == "install-kernelspec":
        from .autograde import ensure_kernelspec

        print(f"Installed {ensure_kernelspec()}")
        return 0
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if args.timeout is not None and args.timeout < 1:
        parser.error(f"--timeout must be at least 1 second, got {args.timeout}")
    from .autograde import autograde, parse_shard

    try:
        shard = parse_shard(args.shard) if args.shard is not None else None
    except ValueError as exc:
        parser.error(f"argument --shard: {exc}")
    return autograde(
        args.assignment, args.workers, args.student, args.timeout, figures=args.figures,
        shard=shard,
    )  # fmt: skip


def _report(parser, args) -> int:
    from .report import default_csvs, write_class_csv, write_report

    root = Path.cwd()
    if not (root / "nbgrader_config.py").exists():
        print(f"error: no nbgrader_config.py in {root}; run this from the course root")
        return 2
    for path in args.csv or []:
        if not path.is_file():
            parser.error(f"--csv {path}: no such file")
    from nbgrader.api import MissingEntry

    csvs = args.csv or default_csvs(root / "grading" / "reports", args.assignment)
    try:
        path = write_report(root, args.assignment, csv_paths=csvs, output=args.output)
    except MissingEntry:
        print(f"error: assignment {args.assignment!r} is not in the gradebook")
        return 2
    table = write_class_csv(root, args.assignment, csvs)
    print(f"Merged {len(csvs)} grader CSV{'s' if len(csvs) != 1 else ''}: "
          f"{', '.join(str(p) for p in csvs) or '(none found)'}")  # fmt: skip
    print(f"Class CSV: {table}")
    similar = root / "grading" / "reports" / f"{args.assignment}.similarity.csv"
    print(f"Near-copy pairs: {similar}")
    print(f"Class report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
