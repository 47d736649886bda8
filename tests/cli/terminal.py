"""A program on a pseudo-terminal, driven as a person at a keyboard would."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

# Run first in the child, which is in a session of its own: make the pty (its stdin) the
# session's controlling terminal, so Ctrl-C typed there arrives as SIGINT as in a real
# terminal, then become the program.
_TAKE_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


class Terminal:
    """A program on a pseudo-terminal: what a person types, and what they would see."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self._fd, child = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _TAKE_TERMINAL, *args],
            stdin=child,
            stdout=child,
            stderr=child,
            env=env,
            start_new_session=True,
        )
        os.close(child)
        self.screen = ""

    def expect(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{text!r} never appeared; the screen shows {self.screen!r}"
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if ready:
                try:
                    self.screen += os.read(self._fd, 4096).decode(errors="replace")
                except OSError:  # the program exited and closed the terminal
                    break
        assert text in self.screen, f"{text!r} never appeared; the screen shows {self.screen!r}"
        return self.screen

    def type(self, keys: str) -> None:
        os.write(self._fd, keys.encode())

    def close(self) -> int:
        """Wait for the program to end by itself; its exit status."""
        return self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        os.close(self._fd)
