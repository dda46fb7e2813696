"""How far a long command is and how long it has left, in words: "3 of 8, about 2 min left".

Every long command (batch rows, animation frames) prints one line per unit of work; the line
says which unit of how many and the time left at the mean pace so far, so a person at the
console knows whether to wait.
"""

from __future__ import annotations

from collections.abc import Sequence


def duration_text(seconds: float) -> str:
    """``seconds`` rounded the way a person says it: "40 s", "3 min", "2.5 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def progress_text(done: int, total: int, seconds: Sequence[float]) -> str:
    """``done`` of ``total`` units, and the time left at the mean of ``seconds`` (the units timed so far)."""
    left = total - done
    if left <= 0:
        return f"{done} of {total}, done"
    if not seconds:
        return f"{done} of {total}"
    return f"{done} of {total}, about {duration_text(left * sum(seconds) / len(seconds))} left"
