"""`weatherlake scheduler` in a process of its own, for the tests of what it does on its own rhythm."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import textwrap


@contextlib.contextmanager
def scheduler_process(env: dict[str, str], *argv: str):
    """The scheduler with ``argv`` on ``Settings.from_env(env)``, logging at INFO to its
    stderr (a pipe); stopped with SIGTERM when the block ends, which must exit it with 0
    (killed if it does not)."""
    code = textwrap.dedent(f"""
        import logging, sys
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        from weatherlake.batch.commands import scheduler
        from weatherlake.config import Settings
        scheduler.main({list(argv)!r}, obj=Settings.from_env({env!r}))
        """)
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    try:
        yield process
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
