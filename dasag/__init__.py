"""dasag: Direct Ascent Synthesis with Aesthetic Guidance, as a PyTorch Lightning package."""

from dasag.augment import Augmentations
from dasag.callbacks import ImageExport
from dasag.config import ConfigError, build_run, load_config
from dasag.data import PromptDataModule, PromptSet
from dasag.module import DirectAscent
from dasag.objective import Objective
from dasag.pyramid import ImagePyramid
from dasag.schedules import Constant, Cosine, ExponentialDecay, ExponentialWarmup, Linear, Schedule, ScheduledLR

__all__ = [
    "Augmentations",
    "ConfigError",
    "Constant",
    "Cosine",
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
    "build_run",
    "load_config",
    "ScheduledLR",
]
__version__ = "0.1.0"
