"""Small helpers for the tests on the real engines."""

from __future__ import annotations

from pathlib import Path


def log_lines_with(path: Path, *texts: str) -> list[str]:
    """The lines of a process's log that contain any of ``texts`` (none while the log is missing)."""
    try:
        return [line for line in path.read_text(errors="replace").splitlines() if any(t in line for t in texts)]
    except FileNotFoundError:
        return []
