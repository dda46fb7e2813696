"""OpenAI CLIP scorer with the LAION improved aesthetic predictor: the DAS-AG v1 scorer.

``openai/clip-vit-large-patch14`` (or any CLIP checkpoint) through transformers, with the
``sac+logos+ava1-l14-linearMSE`` head (768 -> 1024 -> 128 -> 64 -> 16 -> 1) on the
L2-normalised projected image embedding, all from one vision forward pass.
"""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor

from dasag.scorers.hf_text_image import Attention, Dtype, HFTextImageScorer, loads_here
from dasag.scorers.names import Family, Registered
from dasag.scorers.weights import CLIP_DEFAULT, LAION_AESTHETIC_URL, WeightLocations


class CLIP(HFTextImageScorer):
    """CLIP similarity to the prompts plus, optionally, the LAION aesthetic score."""

    name = "clip"
    model_class_name = "CLIPModel"
    model_variable = "CLIP_MODEL_PATH"
    head_variable = "CLIP_AESTHETIC_PREDICTOR_PATH"
    download_hint = f"hf download {CLIP_DEFAULT} --local-dir DIR"
    default_mean = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's own normalisation
    default_std = (0.26862954, 0.26130258, 0.27577711)

    def __init__(self, model: str | None = None, aesthetic_head: str | None = None, aesthetic: bool = True,
                 attn_implementation: Attention = "auto", dtype: Dtype = "auto",
                 input_size: int | None = None, interpolation: Literal["bilinear", "bicubic", "nearest"] | None = None,
                 antialias: bool = True, aesthetic_dropout: list[float] | None = None) -> None:
        """
        Args:
            model: hub id or local directory of a CLIP checkpoint; default: $CLIP_MODEL_PATH,
                else ``openai/clip-vit-large-patch14``.
            aesthetic_head: LAION ``sac+logos+ava1-l14-linearMSE.pth`` file or URL; default:
                $CLIP_AESTHETIC_PREDICTOR_PATH, else the upstream URL.
            aesthetic: load the aesthetic head at all (False: similarity only).
            attn_implementation: ``auto`` (flash_attention_2 > sdpa > eager) or one backend;
                an unavailable one falls back with one warning.
            dtype: model weights dtype; ``auto`` = bf16 on a CUDA GPU, fp32 on CPU.
            input_size / interpolation / antialias / aesthetic_dropout: as for :class:`~dasag.scorers.SigLIP`;
                by default the checkpoint's own input (224 px, bicubic, antialiased) and no dropout
                (the LAION head's training rates were 0.2, 0.2, 0.1).
        """
        super().__init__(model, aesthetic_head, aesthetic, attn_implementation, dtype, input_size, interpolation, antialias, aesthetic_dropout)

    @classmethod
    def weight_defaults(cls, locations: WeightLocations) -> tuple[str, str]:
        return locations.clip_model or CLIP_DEFAULT, locations.clip_aesthetic_head or LAION_AESTHETIC_URL

    @property
    def embedding_dim(self) -> int:
        return self.model.config.projection_dim

    def _image_embedding(self, vision_output: Any) -> Tensor:
        return self.model.visual_projection(vision_output.pooler_output)

    def _text_embedding(self, inputs: dict[str, Tensor]) -> Tensor:
        return self.model.text_projection(self.model.text_model(**inputs).pooler_output)


#: ``clip``: listed as usable where its weights are configured (its environment variables) or cached.
FAMILY = Family(form="clip", example="clip", names=("clip",),
                resolve=lambda name: Registered(name, "dasag.scorers.CLIP", text=True, label="CLIP ViT-L/14 + LAION aesthetic (DAS-AG v1)"),
                available=lambda: ("clip",) if loads_here(CLIP) else ())
