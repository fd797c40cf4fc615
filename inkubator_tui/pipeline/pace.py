"""How long the rest of a long run will take, in words a person reads.

A model run (the agent filling shots one by one, a step rendering many shots)
takes units × seconds a unit. Before the first unit is done, the seconds come
from the last run of the same kind on this machine (remembered in a small JSON
file); after it, from this run's own pace, which also replaces the remembered
figure when the run ends.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from ..project.assets import atomic_write_bytes

log = logging.getLogger(__name__)


def duration_words(seconds: float) -> str:
    """'about 40 s', 'about 3 min', 'about 1 h 10 min', 'about 2 h' — rounded as a person would say it."""
    if seconds < 60:
        return f"about {max(5, round(seconds / 5) * 5)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h" + (f" {minutes} min" if minutes else "")


class Pace:
    """Units done so far against the clock; `left()` is the estimate for the rest."""

    def __init__(self, total: int, kind: str, file: Path | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.kind, self.file, self.clock = total, kind, file, clock
        self.started = clock()
        self.done = 0
        self.prior = self._remembered()

    def _remembered(self) -> float | None:
        if self.file is None:
            return None
        try:
            value = json.loads(self.file.read_text(encoding="utf-8")).get(self.kind)
        except (OSError, ValueError, AttributeError):
            return None
        return float(value) if isinstance(value, (int, float)) and value > 0 else None

    def restart(self) -> None:
        """Start the clock now (after a model load, which is not a unit's work)."""
        self.started = self.clock()

    def advance(self, done: int) -> None:
        self.done = done

    def per_unit(self) -> float | None:
        if self.done > 0:
            return (self.clock() - self.started) / self.done
        return self.prior

    def left(self) -> float | None:
        each = self.per_unit()
        return None if each is None else each * max(0, self.total - self.done)

    def words(self) -> str:
        """'about 40 s left' ('' when nothing is known yet or nothing is left)."""
        left = self.left()
        if left is None or self.done >= self.total:
            return ""
        how = "measured on this machine" if self.done == 0 else ""
        return f"{duration_words(left)} left" + (f" ({how})" if how else "")

    def remember(self) -> None:
        """Keep this run's seconds a unit for the next run's first estimate."""
        if self.file is None or self.done == 0:
            return
        each = (self.clock() - self.started) / self.done
        try:
            data = json.loads(self.file.read_text(encoding="utf-8")) if self.file.is_file() else {}
            data = data if isinstance(data, dict) else {}
            data[self.kind] = round(each, 3)
            atomic_write_bytes(self.file, json.dumps(data).encode("utf-8"))
        except (OSError, ValueError) as e:  # an estimate is never worth failing a run
            log.warning("could not remember the pace in %s: %s", self.file, e)
