"""Which code produced a result: the git commit of the workflow and whether its tree was dirty.

Read with the `git` command, never with a library, and never fatal: a copy of the workflow
outside a git checkout (an unpacked archive, a test's project copy) or a machine without git
reports ``"unknown"`` with the reason, and the study still runs.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

#: Paths whose changes do not make the code "dirty": generated outputs and local state.
_IGNORED_FOR_DIRTY = ("results/", "report/", "logs/", ".snakemake/")


def _git(root: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20, check=True
    )
    return out.stdout.strip()


def code_version(root: str | Path) -> dict[str, Any]:
    """``{"commit": <sha or "unknown">, "dirty": bool | None, "describe": str}`` for `root`.

    ``dirty`` is True when tracked files differ from the commit or untracked, non-ignored
    files exist outside the generated-output folders; None when unknown.
    """
    root = Path(root)
    try:
        commit = _git(root, "rev-parse", "HEAD")
        status = _git(root, "status", "--porcelain", "--untracked-files=normal")
    except (OSError, subprocess.SubprocessError) as exc:
        reason = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()
        why = reason[0] if reason else type(exc).__name__
        describe = f"not a git checkout ({why})"
        return {"commit": "unknown", "dirty": None, "describe": describe}
    changed = [
        line[3:]
        for line in status.splitlines()
        if not line[3:].lstrip('"').startswith(_IGNORED_FOR_DIRTY)
    ]
    dirty = bool(changed)
    short = commit[:12]
    return {
        "commit": commit,
        "dirty": dirty,
        "describe": f"{short} (uncommitted changes)" if dirty else short,
    }


def machine_words(system: str, arch: str, processor: str) -> str:
    """The machine in words: ``"<system> <arch>"`` and, where the platform names one, the
    processor after a comma (many Linux systems name none: then no comma and no empty field)."""
    words = " ".join(part for part in (system, arch) if part) or "unknown"
    return f"{words}, {processor}" if processor.strip() else words


def machine() -> str:
    """This machine in words (`machine_words` of Python's `platform`)."""
    return machine_words(platform.system(), platform.machine(), platform.processor() or "")
