"""The grading kernel started as a plain process: ``python -m poolgrader.kernel -f FILE``.

This is the kernelspec's command. The grading command normally starts kernels from its
pre-warmed zygote instead (``poolgrader.zygote``); this path is used when nbgrader
itself starts the kernel, e.g. ``nbgrader autograde ... --Execute.kernel_name=poolkit-grading``.
It applies the same sandbox and limits, then runs ipykernel.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import poolkit

from . import sandbox
from .limits import GradingLimits, cap_output
from .zygote import sandbox_settings


def default_settings(cwd: Path) -> dict:
    """Settings for a kernel started without the grading command: found from nbgrader's layout."""
    root = next((p for p in [cwd, *cwd.parents] if (p / "nbgrader_config.py").exists()), None)
    if root is None:
        return {"hide": [], "readonly": [], "limits": GradingLimits().limits().as_dict()}
    return {
        # the course folder, shown again read-only where the kernel needs it (see autograde)
        "hide": [str(root)],
        "readonly": [
            str(Path(sys.prefix)),
            str(Path(poolkit.__file__).resolve().parent),
            str(root / "notebooks"),
        ],
        "limits": GradingLimits().limits().as_dict(),
    }


def main(argv: list[str]) -> None:
    from ipykernel.kernelapp import IPKernelApp

    from .limits import Limits

    cwd = Path.cwd().resolve()
    settings = sandbox_settings() or default_settings(cwd)
    app = IPKernelApp.instance()
    sandbox.enter(
        hide=[Path(p) for p in settings["hide"]],
        keep=cwd,
        readonly=[Path(p) for p in settings["readonly"]],
        writable=[cwd, Path("/tmp"), Path("/dev")],
        uid=None,
        limits=Limits(**settings["limits"]),
        before_user_switch=lambda: app.initialize(argv),
        parent=os.getppid(),
    )
    cap_output(app, settings["limits"].get("output_chars"))
    os.chdir(cwd)
    app.start()


if __name__ == "__main__":
    main(sys.argv[1:])
