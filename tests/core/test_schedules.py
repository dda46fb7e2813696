import math

import pytest

from dasag.core.schedules import Constant, ExponentialDecay, ExponentialWarmup, Linear, as_schedule


def test_linear_hits_both_ends():
    s = Linear(start=2.0, end=-1.0)
    assert s(0, 10) == 2.0
    assert s(9, 10) == -1.0
    assert s(4, 10) == pytest.approx(2.0 - 3.0 * 4 / 9)


def test_exponential_decay_formula():
    s = ExponentialDecay(start=0.0, end=1.0, rate=0.02)  # the DAS-AG aesthetic weight
    for t in (0, 1, 17, 99):
        assert s(t, 100) == pytest.approx((0.0 - 1.0) * 0.98**t + 1.0)
    assert s(0, 100) == 0.0


def test_exponential_warmup_seed_formula_stops_short_of_end():
    s = ExponentialWarmup(start=0.2, end=0.5, rate=0.03)
    T = 99
    for t in (0, 10, 50, 99):
        expected = (0.5 - 0.2) * 0.97 ** (T - t) + 0.2 - (0.5 - 0.2) * 0.97**T
        assert s(t, 100) == pytest.approx(expected)
    assert s(0, 100) == pytest.approx(0.2)
    assert s(99, 100) < 0.5  # the documented defect of the seed formula


@pytest.mark.parametrize("steps", [2, 20, 100, 1000])
def test_jitter_schedule_reaches_exactly_zero_on_last_step(steps):
    s = ExponentialWarmup(start=128.0, end=0.0, rate=0.03, exact_end=True)
    assert s(0, steps) == 128.0
    assert s(steps - 1, steps) == 0.0
    values = s.values(steps)
    assert all(a >= b for a, b in zip(values, values[1:])), "jitter must never grow"


def test_steps_past_the_end_clamp_and_bad_rate_rejected():
    s = Linear(0, 1)
    assert s(1000, 10) == 1.0 and s(-5, 10) == 0.0
    with pytest.raises(ValueError, match="rate"):
        ExponentialDecay(rate=1.5)
    with pytest.raises(ValueError, match="total_steps"):
        s(0, 0)


def test_schedules_print_and_numbers_become_constants():
    assert "ExponentialWarmup(start=0.05, end=0.3, rate=0.03" in repr(ExponentialWarmup(0.05, 0.3, 0.03))
    c = as_schedule(0.25)
    assert isinstance(c, Constant) and c.values(3) == [0.25, 0.25, 0.25]
    assert not math.isnan(ExponentialWarmup(1, 0, 0.0, exact_end=True)(5, 10))


def test_cosine_runs_from_start_to_end_and_is_the_lr_multiplier():
    from dasag.core.schedules import Cosine

    s = Cosine(start=1.0, end=0.01)
    assert s(0, 5) == 1.0 and s(4, 5) == pytest.approx(0.01) and s(2, 5) == pytest.approx(0.505)
    assert "Cosine(start=1.0, end=0.01)" == repr(s)


def test_scheduled_lr_multiplies_the_optimisers_lr_and_checkpoints_plain_values():
    import torch

    from dasag.core.schedules import Cosine, Linear, ScheduledLR

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    sched = ScheduledLR(opt, total_steps=3, schedule=Linear(1.0, 0.5))
    lrs = []
    for _ in range(3):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.2, 0.15, 0.1])
    state = sched.state_dict()
    assert "schedule" not in state and all(not isinstance(v, Cosine) for v in state.values())


def test_a_schedule_value_outside_the_range_is_one_sentence() -> None:
    """inf, nan or 1e300 as a weight or strength would overflow in the loss after the run's folder exists."""
    import pytest

    from dasag.core.schedules import Constant, Cosine, ExponentialDecay, ExponentialWarmup, Linear

    for make, key in ((lambda v: Constant(v), "value"), (lambda v: Linear(0.0, v), "end"), (lambda v: Cosine(v, 0.0), "start"),
                      (lambda v: ExponentialDecay(0.0, v), "end"), (lambda v: ExponentialWarmup(v, 1.0), "start")):
        for bad in (float("inf"), float("nan"), 1e300, -2e6):
            with pytest.raises(ValueError, match=rf"schedule {key} must be a number from -1000000 to 1000000; got"):
                make(bad)
        assert make(1e6) is not None  # the bound itself is allowed
