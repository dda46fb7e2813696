"""The bounds every user-given number is checked against (:mod:`dasag.core.ranges`)."""

from __future__ import annotations

import pytest

from dasag.core.ranges import FPS, FRAMES, WEIGHT, ZOOM, Range


@pytest.mark.parametrize("value", [1e308, -1e308, float("inf"), float("nan"), 1000.5, "1", True, None])
def test_a_weight_outside_the_range_or_not_a_number_is_refused(value) -> None:
    assert not WEIGHT.holds(value)
    with pytest.raises(ValueError, match=r"^w must be a number from -1000 to 1000; got "):
        WEIGHT.check(value, "w")


def test_the_bounds_are_inclusive_and_whole_ranges_refuse_fractions() -> None:
    assert WEIGHT.holds(-1000) and WEIGHT.holds(1000.0) and WEIGHT.holds(0)
    assert FRAMES.holds(1) and FRAMES.holds(100_000) and not FRAMES.holds(100_001) and not FRAMES.holds(2.0)
    assert FPS.holds(0.01) and not FPS.holds(0.001) and ZOOM.holds(0.5) and not ZOOM.holds(1e-300)
    with pytest.raises(ValueError, match=r"^animation.frames must be a whole number from 1 to 100000 \(a hint\); got 1000000000\.0\.$"):
        FRAMES.check(1e9, "animation.frames", "a hint")
    assert Range(0.25, 2.5).describe() == "a number from 0.25 to 2.5"
