#!/usr/bin/env python3
"""Process pools with a worker SIGKILLed: what happens to the other tasks?

    .venv/bin/python benchmarks/pool_killed_worker.py
    .venv/bin/python benchmarks/pool_killed_worker.py --timeout 300

Why the grader keeps its own dispatch (grading/README.md, "What the grader keeps"): one
pipe per worker, so a worker that dies, at any moment, costs only the student it was
grading. This script measures the two maintained pools it was weighed against, on tasks
that stand in for students (8 tasks of 0.2 s, 2 workers, the spawn start method):

- ``concurrent.futures.ProcessPoolExecutor`` (standard library), a worker killed while it
  runs a task (as the OOM killer would kill a grading worker);
- ``pebble.ProcessPool``, the same;
- ``pebble.ProcessPool``, a worker killed while it receives its first, second or third
  task: inside pebble's fetch transaction, which holds a lock that all workers share
  (pebble issue #163). The kill is made by the worker itself, in ``Connection.recv``, so
  it lands at that moment every time rather than by luck.

For each case it prints every task's outcome (its result, or the exception's name) and the
time until every task had one. pebble is not a dependency of the course: the script says
how to install it when it is missing. A script, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor, wait
from multiprocessing import connection

TASKS = 8
WORKERS = 2
SECONDS_PER_TASK = 0.2
# Set in the parent, read by the workers it spawns.
KILL_TASK = "POOL_BENCH_KILL_TASK"  # this task kills the worker that runs it
KILL_AT_RECV = "POOL_BENCH_KILL_AT_RECV"  # the worker dies at this call of recv
ARMED = "POOL_BENCH_ARMED"  # a file: only the first worker to remove it is armed


def task(i: int) -> int:
    if os.environ.get(KILL_TASK) == str(i):
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(SECONDS_PER_TASK)
    return i


def arm_recv() -> None:
    """Pool initializer: one worker dies at its n-th ``Connection.recv``."""
    calls = int(os.environ.get(KILL_AT_RECV) or 0)
    if not calls:
        return
    try:
        os.remove(os.environ[ARMED])
    except (KeyError, FileNotFoundError):
        return
    original = connection.Connection.recv
    seen = 0

    def recv(self):
        nonlocal seen
        seen += 1
        if seen == calls:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self)

    connection.Connection.recv = recv


def outcomes(futures, timeout: float) -> tuple[list[str], float]:
    started = time.perf_counter()
    done, _ = wait(futures, timeout=timeout)
    elapsed = time.perf_counter() - started
    shown = []
    for future in futures:
        if future not in done:
            shown.append("still pending")
            continue
        try:
            shown.append(str(future.result()))
        except Exception as error:  # noqa: BLE001 (the outcome is what is measured)
            shown.append(type(error).__name__)
    return shown, elapsed


def run_executor(timeout: float) -> tuple[list[str], float]:
    os.environ[KILL_TASK] = "3"
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=ctx) as pool:
        futures = [pool.submit(task, i) for i in range(TASKS)]
        return outcomes(futures, timeout)


def run_pebble(timeout: float, kill_task: int | None, kill_at_recv: int | None):
    import pebble

    os.environ[KILL_TASK] = "" if kill_task is None else str(kill_task)
    os.environ[KILL_AT_RECV] = "" if kill_at_recv is None else str(kill_at_recv)
    flag = f"/tmp/pool-bench-armed-{os.getpid()}"
    if kill_at_recv is not None:
        open(flag, "w").close()
    os.environ[ARMED] = flag
    ctx = multiprocessing.get_context("spawn")
    pool = pebble.ProcessPool(max_workers=WORKERS, initializer=arm_recv, context=ctx)
    try:
        futures = [pool.schedule(task, args=(i,)) for i in range(TASKS)]
        return outcomes(futures, timeout)
    finally:
        pool.stop()
        pool.join(timeout=10)
        if os.path.exists(flag):
            os.remove(flag)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout", type=float, default=300, help="seconds per case")
    args = parser.parse_args()
    print(f"{TASKS} tasks of {SECONDS_PER_TASK} s on {WORKERS} workers; one worker SIGKILLed")
    unkilled = TASKS * SECONDS_PER_TASK / WORKERS
    print(f"(no kill: every task returns its number, in about {unkilled:.1f} s)\n")
    cases = [("ProcessPoolExecutor, killed running task 3", lambda: run_executor(args.timeout))]
    try:
        import pebble
    except ImportError:
        print("pebble is not installed: pip install pebble (5.2.3 was measured), then run again\n")
    else:
        name = f"pebble {pebble.__version__}"
        cases.append((f"{name}, killed running task 3", lambda: run_pebble(args.timeout, 3, None)))
        for n in (1, 2, 3):
            cases.append(
                (
                    f"{name}, killed receiving its task no. {n}",
                    lambda n=n: run_pebble(args.timeout, None, n),
                )  # fmt: skip
            )
    for label, run in cases:
        shown, elapsed = run()
        ok = sum(s.isdigit() for s in shown)
        print(f"{label}: {ok}/{TASKS} tasks returned, after {elapsed:.1f} s")
        print(f"    {', '.join(shown)}")


if __name__ == "__main__":
    main()
