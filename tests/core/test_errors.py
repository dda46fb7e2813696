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


ENSEMBLE_REPORT = ('Parser key "model.scorer":\n  Does not validate against any of the Union subtypes\n  Subtypes: [<class \'dasag.scorers.base.Scorer\'>, '
                   "<class 'dasag.scorers.ensemble.ScorerEnsemble'>]\n  Errors:\n"
                   "    - Import path dasag.scorers.ScorerEnsemble does not correspond to a subclass of Scorer\n"
                   "    - Problem with given class_path 'dasag.scorers.ScorerEnsemble':\n        Option 'drop_connect' is not accepted\n"
                   "  Given value type: <class 'jsonargparse._util.NestedArg'>\n  Given value: NestedArg(key='drop_connect', val='0.2')")
MEMBER_REPORT = ('Parser key "model.scorer":\n  Does not validate against any of the Union subtypes\n  Errors:\n'
                 "    - Import path dasag.scorers.ScorerEnsemble does not correspond to a subclass of Scorer\n"
                 "    - Problem with given class_path 'dasag.scorers.ScorerEnsemble':\n        Parser key \"scorers\":\n"
                 "          Problem with given class_path 'dasag.scorers.EfficientNetLite':\n            Option 'bogus' is not accepted\n"
                 "  Given value type: <class 'dict'>")


@pytest.mark.parametrize(("report", "found"), [
    (ENSEMBLE_REPORT, ("model.scorer", "dasag.scorers.ScorerEnsemble", "drop_connect")),
    (MEMBER_REPORT, ("model.scorer.init_args.scorers", "dasag.scorers.EfficientNetLite", "bogus")),
    ('Parser key "model.pyramid":\n  Problem with given class_path \'dasag.ImagePyramid\':\n    Option \'hue\' is not accepted',
     ("model.pyramid", "dasag.ImagePyramid", "hue")),
    ('Parser key "trainer.max_steps":\n  Expected a <class \'int\'>. Got value: many', None),
    ("unrecognized arguments: --model.bogus 1", None),
])
def test_an_init_arg_the_class_does_not_take_is_found_under_the_union_report(report, found):
    """The union's first complaint ("does not correspond to a subclass of Scorer") was the sentence shown for drop_connect on an ensemble."""
    from dasag.core.errors import unaccepted_argument

    assert unaccepted_argument(report) == found



def test_a_constructors_import_error_under_the_union_report_is_the_sentence():
    """A zoo scorer in a config without open_clip was "Problem with given class_path 'dasag.scorers.OpenCLIP':", the reason cut off."""
    from dasag.core.errors import first_line

    missing = ImportError("open_clip scorers need open_clip_torch, which is not installed: pip install 'dasag[zoo]'.")
    problem = ValueError("Problem with given class_path 'dasag.scorers.OpenCLIP':\n  open_clip scorers need ...")
    problem.__cause__ = missing
    union = ValueError("Does not validate against any of the Union subtypes\nErrors:\n  - Problem with given class_path ...")
    union.__cause__ = problem
    assert first_line(union) == "open_clip scorers need open_clip_torch, which is not installed: pip install 'dasag[zoo]'."
