"""dasag: Direct Ascent Synthesis with Aesthetic Guidance, as a PyTorch Lightning package.

The public API: every class a shipped config names (``class_path: dasag.ImagePyramid``), the
extension points (:class:`Term`, :class:`StepContext`, :class:`Scorer`, :class:`BuiltRun`) and
the one-call :func:`generate`. Names are loaded on first use, so ``import dasag`` (and every
command's start-up) costs nothing until a name is asked for: a command sets up its process
(CPU kernels, threads) before the first tensor exists.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from dasag.core.version import __version__  # a plain module: no torch

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    # a run
    "build_run": "dasag.run.build", "BuiltRun": "dasag.run.build", "generate": "dasag.run.generate", "Picture": "dasag.run.picture",
    "DirectAscent": "dasag.run.module", "PromptDataModule": "dasag.run.data", "PromptSet": "dasag.run.data",
    "ImageExport": "dasag.run.callbacks", "ScheduleAnnealing": "dasag.run.callbacks",
    "BestOfK": "dasag.run.value_guidance", "ValueGuidance": "dasag.run.value_guidance",
    "Reward": "dasag.run.rewards", "JpegCompressibility": "dasag.run.rewards", "ScorerReward": "dasag.run.rewards",
    # configs and errors
    "load_config": "dasag.core.config", "ConfigError": "dasag.core.errors",
    # the picture
    "ImagePyramid": "dasag.image.pyramid", "MaskedPyramid": "dasag.image.masking",
    "Augmentations": "dasag.image.augment", "Cutouts": "dasag.image.cutouts",
    # the objective
    "Objective": "dasag.objective.loss", "Term": "dasag.objective.base", "StepContext": "dasag.objective.base",
    "Contribution": "dasag.objective.base", "StyleTerm": "dasag.objective.embedding_terms",
    "ReferenceImageTerm": "dasag.objective.embedding_terms", "SpectrumTerm": "dasag.objective.spectrum_term",
    # scorers (also in dasag.scorers)
    "Scorer": "dasag.scorers.base", "Scores": "dasag.scorers.base", "ScorerEnsemble": "dasag.scorers.ensemble",
    # schedules
    "Schedule": "dasag.core.schedules", "Constant": "dasag.core.schedules", "Linear": "dasag.core.schedules",
    "Cosine": "dasag.core.schedules", "ExponentialDecay": "dasag.core.schedules", "ExponentialWarmup": "dasag.core.schedules",
    "ScheduledLR": "dasag.core.schedules",
}

__all__ = [
    "Augmentations",
    "BestOfK",
    "BuiltRun",
    "ConfigError",
    "Constant",
    "Contribution",
    "Cosine",
    "Cutouts",
    "DirectAscent",
    "ExponentialDecay",
    "ExponentialWarmup",
    "ImageExport",
    "ImagePyramid",
    "JpegCompressibility",
    "Linear",
    "MaskedPyramid",
    "Objective",
    "Picture",
    "PromptDataModule",
    "PromptSet",
    "ReferenceImageTerm",
    "Reward",
    "Schedule",
    "ScheduleAnnealing",
    "ScheduledLR",
    "Scorer",
    "ScorerEnsemble",
    "ScorerReward",
    "Scores",
    "SpectrumTerm",
    "StepContext",
    "StyleTerm",
    "Term",
    "ValueGuidance",
    "__version__",
    "build_run",
    "generate",
    "load_config",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    raise AttributeError(f"module 'dasag' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # what a type checker and an editor see
    from dasag.core.config import load_config
    from dasag.core.errors import ConfigError
    from dasag.core.schedules import Constant, Cosine, ExponentialDecay, ExponentialWarmup, Linear, Schedule, ScheduledLR
    from dasag.image.augment import Augmentations
    from dasag.image.cutouts import Cutouts
    from dasag.image.masking import MaskedPyramid
    from dasag.image.pyramid import ImagePyramid
    from dasag.objective.base import Contribution, StepContext, Term
    from dasag.objective.embedding_terms import ReferenceImageTerm, StyleTerm
    from dasag.objective.loss import Objective
    from dasag.objective.spectrum_term import SpectrumTerm
    from dasag.run.build import BuiltRun, build_run
    from dasag.run.callbacks import ImageExport, ScheduleAnnealing
    from dasag.run.data import PromptDataModule, PromptSet
    from dasag.run.generate import generate
    from dasag.run.module import DirectAscent
    from dasag.run.picture import Picture
    from dasag.run.rewards import JpegCompressibility, Reward, ScorerReward
    from dasag.run.value_guidance import BestOfK, ValueGuidance
    from dasag.scorers.base import Scorer, Scores
    from dasag.scorers.ensemble import ScorerEnsemble
