"""Progress of long loops (exploration MD steps, structures of a label job) that users can see.

On a terminal a one-line bar is redrawn in place (at most 5 times a second); anywhere else (a
rule's log file, SLURM output) one log line is written at every ~10 % of the work (at most one a
second, so a fast loop logs only its final line), so a log shows how far a job got before it was
killed. Cheap enough to call on every MD step: `update` only
compares two numbers unless a redraw is due.

    progress = Progress(n_steps, f"explore {condition.name}", unit="steps")
    for step in ...:
        progress.update_to(step)
    progress.close()

`MLIP_PROGRESS=0` in the environment turns both off (`=bar` / `=log` forces one of them).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TextIO

log = logging.getLogger("mlip_autopipec.progress")

BAR_WIDTH = 28
REDRAW_S = 0.2
LOG_FRACTION = 0.1
LOG_MIN_INTERVAL_S = 1.0  # a fast loop logs only its final line


def _mode(stream: TextIO) -> str:
    env = os.environ.get("MLIP_PROGRESS", "").strip().lower()
    if env in ("0", "off", "false", "no"):
        return "off"
    if env in ("bar", "log"):
        return env
    try:
        return "bar" if stream.isatty() else "log"
    except (AttributeError, ValueError):  # closed or unusual stream
        return "log"


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """A progress reporter for `total` units of work (see module docstring)."""

    def __init__(self, total: int, desc: str, unit: str = "it", stream: TextIO | None = None,
                 logger: logging.Logger | None = None):
        self.total = max(int(total), 0)
        self.desc = desc
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.log = logger or log
        self.mode = _mode(self.stream)
        self.n = 0
        self.t0 = time.monotonic()
        self._next_draw = 0.0
        self._log_every = max(1, int(round(self.total * LOG_FRACTION)))
        self._next_log = self._log_every
        self._last_log = self.t0
        self._closed = False
        self._drawn = False

    # -- counting ------------------------------------------------------------------------------
    def update(self, n: int = 1) -> None:
        self.update_to(self.n + n)

    def update_to(self, n: int) -> None:
        """Set the amount of finished work (e.g. the MD step just completed)."""
        self.n = min(int(n), self.total) if self.total else int(n)
        if self.mode == "bar":
            now = time.monotonic()
            if now >= self._next_draw or self.n >= self.total:
                self._next_draw = now + REDRAW_S
                self._draw()
        elif self.mode == "log" and self.n >= self._next_log and self.n < self.total:
            self._next_log = (self.n // self._log_every + 1) * self._log_every
            now = time.monotonic()
            if now - self._last_log >= LOG_MIN_INTERVAL_S:
                self._last_log = now
                self.log.info("%s", self.line())

    def close(self, note: str = "") -> None:
        """End the bar (newline) or log the final line; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.total == 0 and self.n == 0:  # nothing to do, nothing to report
            return
        if self.mode == "bar":
            self._draw(final=True, note=note)
        elif self.mode == "log":
            self.log.info("%s%s", self.line(), f" ({note})" if note else "")

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- formatting ----------------------------------------------------------------------------
    def rate(self) -> float:
        elapsed = time.monotonic() - self.t0
        return self.n / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """'explore t600: 450/1000 steps (45%), 312 steps/s, 0:01 elapsed, ~0:02 left'"""
        elapsed = time.monotonic() - self.t0
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        rate = self.rate()
        left = f", ~{_duration((self.total - self.n) / rate)} left" if rate > 0 and self.n < self.total else ""
        return (f"{self.desc}: {self.n}/{self.total} {self.unit}{pct}, {rate:.3g} {self.unit}/s, "
                f"{_duration(elapsed)} elapsed{left}")

    def bar(self) -> str:
        frac = self.n / self.total if self.total else 1.0
        filled = int(round(frac * BAR_WIDTH))
        return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}]"

    def _draw(self, final: bool = False, note: str = "") -> None:
        text = f"\r{self.bar()} {self.line()}" + (f" ({note})" if note else "")
        try:
            self.stream.write(text + ("\n" if final else "\x1b[K"))
            self.stream.flush()
            self._drawn = True
        except (OSError, ValueError):  # a closed terminal must not kill the job
            self.mode = "off"
