"""SigLIP text-image scorer with the Aesthetic Predictor V2.5 head: the DAS-AG v2 scorer.

``google/siglip-so400m-patch14-384`` (or any SigLIP v1 checkpoint, by hub id or local
directory) through transformers. The head reads the L2-normalised vision pooler output, so
one vision forward pass gives the text-image similarity and the aesthetic score.

The V2.5 head is AGPL-3.0: it is not part of this package. It is read from a local ``.pth``
(``AESTHETIC_PREDICTOR_MODEL_PATH``) or, when online, downloaded from its upstream URL.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

from torch import Tensor

from dasag.scorers.hf_text_image import Attention, Dtype, HFTextImageScorer, loads_here
from dasag.scorers.names import Family, Registered
from dasag.scorers.weights import AESTHETIC_V25_URL, SIGLIP_DEFAULT, WeightLocations


class SigLIP(HFTextImageScorer):
    """SigLIP similarity to the prompts plus, optionally, the Aesthetic Predictor V2.5 score."""

    name = "siglip"
    model_class_name = "SiglipModel"
    model_variable = "SIGLIP_MODEL_PATH"
    head_variable = "AESTHETIC_PREDICTOR_MODEL_PATH"
    download_hint = f"hf download {SIGLIP_DEFAULT} --local-dir DIR"

    def __init__(self, model: str | None = None, aesthetic_head: str | None = None, aesthetic: bool = True,
                 attn_implementation: Attention = "auto", dtype: Dtype = "auto",
                 input_size: int | None = None, interpolation: Literal["bilinear", "bicubic", "nearest"] | None = None,
                 antialias: bool = True, aesthetic_dropout: list[float] | None = None, text_attention_mask: bool = False) -> None:
        """
        Args:
            model: hub id or local directory of a SigLIP checkpoint; default: $SIGLIP_MODEL_PATH,
                else ``google/siglip-so400m-patch14-384``.
            aesthetic_head: Aesthetic Predictor V2.5 ``.pth``/``.pt`` file or URL; default:
                $AESTHETIC_PREDICTOR_MODEL_PATH (alias $AESTHETIC_PREDICTOR_PATH), else the upstream URL.
            aesthetic: load the aesthetic head at all (False: similarity only, ``Scores.aesthetic`` is None).
            attn_implementation: ``auto`` (flash_attention_2 > sdpa > eager, what this machine supports)
                or one backend; an unavailable one falls back with one warning.
            dtype: model weights dtype; ``auto`` = bf16 on a CUDA GPU, fp32 on CPU.
            input_size: side of the square model input; ``None``: the checkpoint's ``image_size``
                (384 for so400m-patch14-384; DAS-AG v2 fed it 386, which gives the same 27x27 patches).
            interpolation: resize mode to the input; ``None``: the checkpoint's processor (bicubic).
            antialias: low-pass filter when shrinking, as the checkpoint's processor does (DAS-AG v2: off).
            aesthetic_dropout: dropout rates after the head's hidden layers, applied at every call as
                DAS-AG v2's train-mode head did (V2.5's: ``[0.5, 0.5, 0.5, 0.2]``), seeded per step by
                the module; ``None`` (default): no dropout, the score is a function of the image.
            text_attention_mask: give the text tower the attention mask when the tokenizer returns one,
                as DAS-AG v2 did by passing the tokenizer's output whole. ``False`` (default): the ids
                alone, as SigLIP was trained (max_length padding, no mask; the Hugging Face SigLIP
                tokenizers return no mask, so with their checkpoints both settings are the same).
                SigLIP pools the last position, which is padding for a short prompt: under
                flash_attention_2 a mask cuts it off from the prompt (docs/fidelity.md).
        """
        if not isinstance(text_attention_mask, bool):
            raise ValueError(f"text_attention_mask must be true or false; got {text_attention_mask!r}.")
        super().__init__(model, aesthetic_head, aesthetic, attn_implementation, dtype, input_size, interpolation, antialias, aesthetic_dropout)
        self.text_attention_mask = text_attention_mask

    @classmethod
    def weight_defaults(cls, locations: WeightLocations) -> tuple[str, str]:
        return locations.siglip_model or SIGLIP_DEFAULT, locations.aesthetic_head or AESTHETIC_V25_URL

    @property
    def embedding_dim(self) -> int:
        return self.model.config.vision_config.hidden_size

    def _image_embedding(self, vision_output: Any) -> Tensor:
        # SigLIP has no projection: the attention-pooled output is the image embedding.
        return vision_output.pooler_output

    def _text_embedding(self, inputs: dict[str, Tensor]) -> Tensor:
        mask = inputs.get("attention_mask")
        if mask is not None and self.attention == "flash_attention_2" and not bool(mask[:, -1].all()):
            # flash-attn's padding path gives padded positions a zero attention output in every layer,
            # and SigLIP pools the last one: every prompt shorter than the limit encodes alike.
            warnings.warn(
                f"{self.name}: text_attention_mask under flash_attention_2 cuts the pooled last position off from the prompt, so every prompt "
                f"shorter than {mask.shape[-1]} tokens encodes to the same vector; use attn_implementation: sdpa, or text_attention_mask: false.",
                stacklevel=4,
            )
        return self.model.text_model(**inputs).pooler_output


#: ``siglip``: listed as usable where its weights are configured (its environment variables) or cached.
FAMILY = Family(form="siglip", example="siglip", names=("siglip",),
                resolve=lambda name: Registered(name, "dasag.scorers.SigLIP", text=True, label="SigLIP + Aesthetic Predictor V2.5 (DAS-AG v2)"),
                available=lambda: ("siglip",) if loads_here(SigLIP) else ())
