"""``python -m poolgrader autograde <assignment> [--workers N] [--student GLOB]``."""

from __future__ import annotations

import argparse
import sys


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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
