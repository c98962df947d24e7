"""``ccl-wallet`` run in a pseudo-terminal, as a person at a keyboard runs it.

Hidden prompts (getpass) read from the controlling terminal, so only a real pty shows what a
user sees and in which order: the process is started with ``pty.fork`` and its terminal output
is read until an expected text appears, then the next answer is typed. Expect a hidden prompt
with its trailing ": " (getpass writes the space after turning echo off, and flushes what was
typed before that).
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from collections.abc import Mapping, Sequence

# A bound on how long a prompt may take to appear (imports, scrypt at the tests' low work
# factor, a request to an in-process platform): a stuck process fails the test instead of
# hanging it. Not a timing assertion.
PROMPT_BOUND_S = 60.0


class Terminal:
    def __init__(
        self, args: Sequence[str], env: Mapping[str, str], *, columns: int = 80, rows: int = 24
    ) -> None:
        argv = [sys.executable, "-m", "wallet_cli.main", *args]
        pid, fd = pty.fork()
        if pid == 0:  # the child: becomes ccl-wallet, with the pty as its terminal
            try:
                os.execve(sys.executable, argv, dict(env))
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        # A terminal of this size (tables are laid out to it), as a user's window would be.
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.transcript = ""  # everything the terminal showed, answers excluded (hidden)
        self._seen = 0  # how much of the transcript earlier expectations consumed

    def _read(self, deadline: float) -> bool:
        """Read what is available; False at end of output."""
        ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # EIO: the child closed its terminal
            return False
        if not chunk:
            return False
        self.transcript += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
        return True

    def expect(self, text: str) -> str:
        """Wait for ``text``; returns what was shown before it (since the last expectation)."""
        deadline = time.monotonic() + PROMPT_BOUND_S
        while text not in self.transcript[self._seen :]:
            if time.monotonic() > deadline or not self._read(deadline):
                raise AssertionError(
                    f"{text!r} never appeared; the terminal showed:\n{self.transcript}"
                )
        end = self.transcript.index(text, self._seen)
        before = self.transcript[self._seen : end]
        self._seen = end + len(text)
        return before

    def type(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())

    def finish(self) -> int:
        """Read to the end; the exit code."""
        deadline = time.monotonic() + PROMPT_BOUND_S
        while time.monotonic() < deadline and self._read(deadline):
            pass
        if time.monotonic() >= deadline:
            os.kill(self.pid, signal.SIGKILL)
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)
