"""Every error a user reads is one sentence, jsonargparse's nested reports included."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("report", "sentence"),
    [
        ('Parser key "model.objective":\n  Does not validate against any of the Union subtypes\n  Subtypes: [<class \'dasag.objective.loss.Objective\'>, '
         "<class 'NoneType'>]\n  Errors:\n    - Problem with given class_path 'dasag.Objective':\n        Parser key \"arctanh_on\":\n"
         "          Expected a typing.Literal['copy', 'batch_mean']. Got value: batch\n    - Expected a <class 'NoneType'>\n"
         "  Given value type: <class 'dict'>\n  Given value: {'class_path': 'dasag.Objective'}",
         "model.objective.arctanh_on: expected one of 'copy', 'batch_mean'; got 'batch'."),
        ('Parser key "model.pyramid":\n  Problem with given class_path \'dasag.ImagePyramid\':\n    Option \'colour\' is not accepted',
         "model.pyramid: option 'colour' is not accepted."),
        ('Parser key "trainer.max_steps":\n  Expected a <class \'int\'>. Got value: many', "trainer.max_steps: expected int; got 'many'."),
    ],
)
def test_parser_reports_become_one_sentence_with_the_key_path(report, sentence):
    from dasag.core.errors import parser_sentence

    assert parser_sentence(report) == sentence
