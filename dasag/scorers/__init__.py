"""Frozen models behind one small interface (see :mod:`dasag.scorers.base`)."""

from dasag.scorers.base import Scorer, Scores
from dasag.scorers.clip import CLIP
from dasag.scorers.efficientnet import EfficientNetLite
from dasag.scorers.ensemble import ScorerEnsemble
from dasag.scorers.openclip import OpenCLIP
from dasag.scorers.siglip import SigLIP
from dasag.scorers.timm_classifier import TimmClassifier
from dasag.scorers.transformers_auto import TransformersImageText

__all__ = ["CLIP", "EfficientNetLite", "OpenCLIP", "Scorer", "ScorerEnsemble", "Scores", "SigLIP", "TimmClassifier", "TransformersImageText"]
