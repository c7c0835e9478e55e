"""``python -m poolkit.grading autograde <assignment> [--workers N] [--student GLOB]``,
``python -m poolkit.grading report <assignment> [--csv PATH ...]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m poolkit.grading",
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
        help="(re)build grading/reports/<assignment>.html from the gradebook and the CSV",
    )
    report.add_argument("assignment", help="assignment id, e.g. 01-pooling-basics")
    report.add_argument(
        "--csv",
        action="append",
        type=Path,
        default=None,
        help="the grader's CSV; repeat for a class graded in shards "
        "(default: grading/reports/<assignment>.csv)",
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
    from .autograde import autograde

    return autograde(
        args.assignment, args.workers, args.student, args.timeout, figures=args.figures
    )


def _report(parser, args) -> int:
    from .report import write_report

    root = Path.cwd()
    if not (root / "nbgrader_config.py").exists():
        print(f"error: no nbgrader_config.py in {root}; run this from the course root")
        return 2
    for path in args.csv or []:
        if not path.is_file():
            parser.error(f"--csv {path}: no such file")
    from nbgrader.api import MissingEntry

    try:
        path = write_report(root, args.assignment, csv_paths=args.csv, output=args.output)
    except MissingEntry:
        print(f"error: assignment {args.assignment!r} is not in the gradebook")
        return 2
    print(f"Class report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
