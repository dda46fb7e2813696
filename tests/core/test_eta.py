"""Progress lines of long commands (:mod:`dasag.core.eta`)."""

from __future__ import annotations

from dasag.core.eta import duration_text, progress_text


def test_the_time_left_is_the_mean_pace_times_the_units_left() -> None:
    assert progress_text(1, 8, [10.0]) == "1 of 8, about 70 s left"
    assert progress_text(2, 8, [60.0, 80.0]) == "2 of 8, about 7 min left"
    assert progress_text(8, 8, [1.0] * 8) == "8 of 8, done"
    assert progress_text(0, 3, []) == "0 of 3"


def test_durations_read_as_a_person_says_them() -> None:
    assert [duration_text(s) for s in (4.2, 89, 91, 5399, 5401, 9000)] == ["4 s", "89 s", "2 min", "90 min", "1.5 h", "2.5 h"]
