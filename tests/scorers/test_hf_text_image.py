"""SigLIP and CLIP scorers (dasag.scorers.hf_text_image and its two subclasses) through the real
loading path, on tiny random checkpoints."""

from __future__ import annotations

import warnings

import pytest
import torch

from dasag.scorers import SigLIP
from dasag.scorers.hf_text_image import choose_attention
from dasag.scorers.weights import MissingWeightsError
from feature_helpers import NEGATIVE, PROMPT, random_images


def test_text_embeddings_are_cached(tiny_weights_env) -> None:
    scorer = SigLIP().load()
    batches: list[int] = []  # prompts per text-tower call, seen through a forward hook
    scorer.model.text_model.register_forward_hook(lambda module, args, kwargs, out: batches.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    scorer.prepare([PROMPT], [NEGATIVE])
    assert batches == [2]  # positive and negative prompts: one text-tower batch
    before = scorer.positive_emb.clone()
    scorer.prepare([PROMPT], [NEGATIVE])  # same prompt set: nothing recomputed
    assert batches == [2]
    scorer.prepare([PROMPT], [NEGATIVE, "pixelated"])  # only the new prompt goes through the text tower
    assert batches == [2, 1]
    assert torch.equal(scorer.positive_emb, before) and scorer.negative_emb.shape[0] == 2


def test_overlong_prompt_is_truncated_with_a_warning(siglip: SigLIP) -> None:
    long_a = "a photo of a goldfish " * 20 + "in the sea"
    long_b = "a photo of a goldfish " * 20 + "on the moon"  # differs only after the token limit
    with pytest.warns(UserWarning, match=r"prompt 'a photo of a goldfish a photo.*truncated"):
        siglip.prepare([long_a, long_b], [])
    a, b = siglip.positive_emb
    assert torch.isfinite(a).all() and torch.equal(a, b)
    assert torch.isfinite(siglip(random_images()).positive).all()


def test_missing_weights_are_reported_before_anything_loads(tiny_weights_env, monkeypatch, tmp_path) -> None:
    import transformers

    def no_loading(*args, **kwargs):
        raise AssertionError("from_pretrained must not be reached")

    monkeypatch.setattr(transformers.SiglipModel, "from_pretrained", no_loading)

    def error_of(**kwargs) -> str:
        scorer = SigLIP(**kwargs)  # the constructor only resolves; the check runs before loading
        with pytest.raises(MissingWeightsError) as err:
            scorer.prepare([PROMPT], [])
        message = str(err.value)
        assert "\n" not in message and message.endswith(".")
        return message

    message = error_of(model=str(tmp_path / "no_such_model"))
    assert "SIGLIP_MODEL_PATH" in message and "hf download google/siglip-so400m-patch14-384" in message
    message = error_of(model="google/siglip-so400m-patch14-384")  # offline and not cached
    assert "not in the local Hugging Face cache" in message and "SIGLIP_MODEL_PATH" in message
    assert "AESTHETIC_PREDICTOR_MODEL_PATH" in error_of(aesthetic_head=str(tmp_path / "missing.pth"))
    # Nothing configured and offline: the upstream URL cannot be fetched, and the error says where it is.
    monkeypatch.delenv("AESTHETIC_PREDICTOR_MODEL_PATH")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    message = error_of()
    assert "discus0434/aesthetic-predictor-v2-5" in message and "AESTHETIC_PREDICTOR_MODEL_PATH" in message
    SigLIP(aesthetic=False).validate_prompts([PROMPT], [])  # no head wanted: nothing missing


class Recorder:
    """A pickled object whose unpickling would leave a trace."""

    loaded = False

    def __setstate__(self, state) -> None:
        Recorder.loaded = True


def test_pickled_object_in_a_pt_file_is_refused(tiny_weights_env, tmp_path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"scoring_head.0.weight": torch.zeros(1, 32), "extra": Recorder()}, path)
    scorer = SigLIP(aesthetic_head=str(path))
    with pytest.raises(ValueError, match=r"refusing to load .*evil\.pt.*pickled"):
        scorer.load()
    assert not Recorder.loaded


def test_unavailable_attention_falls_back_with_one_warning(tiny_weights_env) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scorer = SigLIP(attn_implementation="flash_attention_2", aesthetic=False).load()
    ours = [w for w in caught if "attn_implementation" in str(w.message)]
    assert len(ours) == 1 and "flash_attention_2" in str(ours[0].message)
    assert scorer.attention == scorer.model.config._attn_implementation == "sdpa"
    from transformers import SiglipModel

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto and eager never warn
        assert choose_attention("auto", SiglipModel, torch.float32) == "sdpa"
        assert choose_attention("eager", SiglipModel, torch.float32) == "eager"


def test_bad_arguments_fail_in_the_constructor(tiny_weights_env) -> None:
    with pytest.raises(ValueError, match=r"attn_implementation must be one of auto, flash_attention_2, sdpa, eager; got 'flash'"):
        SigLIP(attn_implementation="flash")
    with pytest.raises(ValueError, match=r"dtype must be one of auto, bf16, fp16, fp32; got 'float64'"):
        SigLIP(dtype="float64")


def test_bf16_weights_keep_fp32_scores_and_gradients(tiny_weights_env) -> None:
    scorer = SigLIP(dtype="bf16")
    scorer.prepare([PROMPT], [])
    assert next(scorer.model.parameters()).dtype == torch.bfloat16
    x = random_images().requires_grad_(True)
    s = scorer(x)
    assert s.positive.dtype == s.aesthetic.dtype == torch.float32
    s.aesthetic.sum().backward()
    assert x.grad.dtype == torch.float32 and x.grad.abs().sum() > 0


def test_head_width_must_match_the_model(tiny_weights_env, tmp_path) -> None:
    from tiny_models import build_tiny_v25_head

    wrong = build_tiny_v25_head(tmp_path / "wide.pth", in_dim=48)
    with pytest.raises(ValueError, match=r"reads 48-dim embeddings but the model makes 32-dim.*AESTHETIC_PREDICTOR_MODEL_PATH"):
        SigLIP(aesthetic_head=str(wrong)).load()


def test_an_unreachable_hub_names_the_variable_to_set_before_the_hubs_reason(tiny_weights_env, monkeypatch) -> None:
    """Online but unable to reach the hub: the error's first line (the one a command shows) says what
    to set and how to make the folder; the hub's long reason comes last, cut to its first line."""
    import transformers

    from dasag.core.errors import first_line
    from dasag.scorers.hf_text_image import MissingWeightsError

    def unreachable(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files.\nCheck your internet connection.")

    monkeypatch.setattr(transformers.SiglipModel, "from_pretrained", unreachable)
    scorer = SigLIP(model="google/siglip-so400m-patch14-384", aesthetic=False)
    scorer.offline = False  # as on a machine where HF_HUB_OFFLINE is not set
    with pytest.raises(MissingWeightsError) as err:
        scorer.load()
    shown = first_line(err.value)
    assert shown.startswith("could not load siglip weights from 'google/siglip-so400m-patch14-384': set SIGLIP_MODEL_PATH")
    assert "hf download google/siglip-so400m-patch14-384" in shown and shown.endswith("to load the files).") and "\n" not in str(err.value)
