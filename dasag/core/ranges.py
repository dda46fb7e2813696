"""The numbers a user may give, each with the range the run is known to work in.

A value at the edge of the float range (a prompt weight of 1e308, a zoom of 1e-300 per frame,
a million-fps clip) does not fail where it is given: it overflows later, in a product, a
resample or an encoder, after frames were written, or runs for ever. Each bound here is
generous (far past any setting that makes a sensible picture or clip) but finite, so a
value outside it is one sentence before anything loads or is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Range:
    """Inclusive bounds for one kind of number, and whether it must be whole."""

    low: float
    high: float
    whole: bool = False

    def describe(self) -> str:
        """The range in words, for the sentence that refuses a value outside it."""
        kind = "a whole number" if self.whole else "a number"
        return f"{kind} from {_show(self.low)} to {_show(self.high)}"

    def holds(self, value: Any) -> bool:
        """Whether ``value`` is a number of the right kind inside the bounds (bools are not numbers)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.whole and not isinstance(value, int):
            return False
        return math.isfinite(value) and self.low <= value <= self.high

    def check(self, value: Any, key: str, hint: str = "") -> Any:
        """``value`` if it :meth:`holds`, else :class:`ValueError` naming ``key``, the range and what was given."""
        if not self.holds(value):
            hint = f" ({hint})" if hint else ""
            raise ValueError(f"{key} must be {self.describe()}{hint}; got {value!r}.")
        return value


def _show(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


#: A prompt's weight (prompts, keyframes, batch rows, the app): a thousand times the default pull.
WEIGHT = Range(-1000.0, 1000.0)
#: A loss term's weight (the prompt term, TV, L1): a thousand times the default, never negative.
TERM_WEIGHT = Range(0.0, 1000.0)
#: Any value a schedule takes (a weight, a noise sigma, a shift, an lr multiplier): products of
#: it stay finite in fp32 and bf16.
SCHEDULE_VALUE = Range(-1e6, 1e6)
#: Ascent steps of one picture or frame.
STEPS = Range(1, 1_000_000, whole=True)
#: Frames of one animation (about 4 days at 3.4 s a frame on 2 CPU cores).
FRAMES = Range(1, 100_000, whole=True)
#: Frames per second of a clip; the GIF stores a frame's duration in 1/100 s as 16 bits.
FPS = Range(0.01, 100.0)
#: The camera's zoom per frame (1 keeps the size).
ZOOM = Range(0.5, 2.0)
#: The camera's rotation per frame, in degrees.
ROTATION = Range(-180.0, 180.0)
#: The camera's translation per frame, in pixels.
SHIFT_PX = Range(-4096.0, 4096.0)
#: Seconds a worker of a multi-node run may stay silent (a heartbeat comes every 2 s).
NODE_TIMEOUT = Range(10.0, 86_400.0)
#: Augmented copies (or cutouts) per image per step: each is a forward and backward pass of the scorer.
COPIES = Range(1, 4096, whole=True)
#: A cutout's side in px (the scorer's input; 4096 is past any checkpoint's).
CUT_SIZE = Range(8, 4096, whole=True)
#: The smallest cutout's share of the visible side (below 1 % a crop is a few pixels of a large picture).
CUT_FRACTION = Range(0.01, 1.0)
#: CPU threads of a run (``--threads``): more than the largest machines' hardware threads (768 on two
#: 192-core sockets), and not this machine's count: the bytes depend on the count, so a folder made
#: with N threads must be continued with N on any machine. 100,000 exhausted libgomp's memory mid-run.
THREADS = Range(1, 1024, whole=True)
