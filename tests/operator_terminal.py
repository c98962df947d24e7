"""Run a command on a pseudo-terminal and answer its prompts, as a person at a terminal does
(hidden prompts read the terminal itself, not a pipe)."""

from __future__ import annotations

import os
import pty
import select
import signal
import time


def run_in_terminal(
    argv: list[str], env: dict[str, str], answers: list[tuple[str, str]], timeout_s: float = 180
) -> tuple[int, str]:
    """Run ``argv``; whenever the next prompt text appears in the output, type its answer.

    Returns the exit code and everything the terminal showed.
    """
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pseudo-terminal is its controlling terminal
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    output, seen, pending = b"", 0, list(answers)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            while pending and (at := output.find(pending[0][0].encode(), seen)) >= 0:
                seen = at + len(pending[0][0])
                os.write(fd, pending.pop(0)[1].encode() + b"\n")
        else:
            os.kill(pid, signal.SIGKILL)
            raise TimeoutError(f"{argv} still running; terminal so far: {output!r}")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")
