"""dasag: Direct Ascent Synthesis with Aesthetic Guidance, as a PyTorch Lightning package."""

from dasag.augment import Augmentations
from dasag.callbacks import Annealing, ImageExport
from dasag.data import PromptDataModule, PromptSet
from dasag.module import DirectAscent
from dasag.objective import Objective
from dasag.pyramid import ImagePyramid
from dasag.schedules import Constant, ExponentialDecay, ExponentialWarmup, Linear, Schedule

__all__ = [
    "Annealing",
    "Augmentations",
    "Constant",
    "DirectAscent",
    "ExponentialDecay",
    "ExponentialWarmup",
    "ImageExport",
    "ImagePyramid",
    "Linear",
    "Objective",
    "PromptDataModule",
    "PromptSet",
    "Schedule",
]
__version__ = "0.1.0"
