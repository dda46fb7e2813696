"""The plan of one step: the aesthetic weight it carries, the logs it names, and ScheduleAnnealing's plans as a pure function of (step, run length)."""

from __future__ import annotations

from dataclasses import fields

import pytest

from dasag.core.schedules import Linear
from dasag.image.augment import Augmentations, Strengths
from dasag.image.pyramid import ImagePyramid
from dasag.objective.loss import Objective
from dasag.run.callbacks import ScheduleAnnealing
from dasag.run.data import PromptSet
from dasag.run.module import DirectAscent
from dasag.run.plan import StepPlan
from dasag.scorers import EfficientNetLite
from tiny_models import ready

GOLDFISH = PromptSet(("goldfish",), ())
STRENGTHS = Strengths(jitter=3, color_shift=0.25, noise=0.4, zoom=0.1, flip=0.5, rotation=10.0)


def module(max_steps: int = 20):
    """Lite0 on a 64 px canvas (as tiny_models.lite_module), every augmentation on and a rising aesthetic weight: every part of a plan moves with the step."""
    augment = Augmentations(batch_size=2, zoom=Linear(0.0, 0.2), flip=Linear(0.0, 0.5), rotation=Linear(0.0, 10.0), zoom_enabled=True,
                            flip_enabled=True, rotation_enabled=True)
    objective = Objective(aesthetic_weight=Linear(0.0, 1.0), reverse_aesthetic=True)
    model = DirectAscent(pyramid=ImagePyramid(max_size=64, max_shift=8), scorer=EfficientNetLite("lite0", input_size=64), augment=augment,
                         objective=objective, seed=0)
    return ready(model, GOLDFISH, max_steps=max_steps)


def test_the_aesthetic_weight_is_the_plans_aesthetic_entry_or_zero():
    assert StepPlan(3, STRENGTHS, {"aesthetic": -0.5, "style": 2.0}).aesthetic_weight == -0.5
    assert StepPlan(3, STRENGTHS).aesthetic_weight == 0.0  # an objective without an aesthetic term
    weight = StepPlan(3, STRENGTHS, {"aesthetic": 1}).aesthetic_weight
    assert weight == 1.0 and type(weight) is float


def test_as_logs_names_every_strength_and_every_weight_under_schedule():
    plan = StepPlan(3, STRENGTHS, {"aesthetic": -0.5, "style": 2.0})
    logs = plan.as_logs()
    expected = {f"schedule/{f.name}": float(getattr(STRENGTHS, f.name)) for f in fields(Strengths)}
    expected.update({"schedule/aesthetic_weight": -0.5, "schedule/style_weight": 2.0})
    assert logs == expected
    assert all(type(v) is float for v in logs.values())


def test_a_plan_without_weights_logs_only_the_strengths():
    logs = StepPlan(0, STRENGTHS).as_logs()
    assert set(logs) == {f"schedule/{f.name}" for f in fields(Strengths)}


def test_a_plan_is_the_same_every_time_it_is_asked_for():
    model = module()
    first = ScheduleAnnealing.plan_at(model, 5)
    again = ScheduleAnnealing.plan_at(model, 5)
    assert first == again and first.step == 5
    assert first.aesthetic_weight == pytest.approx(-Linear(0.0, 1.0)(5, 20))  # rAG's sign, the schedule's value
    assert model.plan is None  # asking for a plan hands nothing to the module


def test_a_plan_depends_on_its_step_and_run_length_only_not_on_the_plans_asked_before():
    model = module()
    first = ScheduleAnnealing.plan_at(model, 7)
    others = [ScheduleAnnealing.plan_at(model, step) for step in (19, 0, 3, 12, 8)]
    assert all(plan != first for plan in others)  # every part moves with the step: the comparison below can fail
    assert ScheduleAnnealing.plan_at(model, 7) == first
    fresh = ScheduleAnnealing.plan_at(module(), 7)
    assert fresh == first  # another module of the same run: the same plan
    longer = ScheduleAnnealing.plan_at(module(max_steps=40), 7)
    assert longer != first  # the run's length is part of every schedule
