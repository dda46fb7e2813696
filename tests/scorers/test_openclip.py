"""The open_clip scorer: its names, its bad input, and the real loading code on tiny random models.

Nothing downloads: a tiny open_clip architecture is registered with open_clip's own
``add_model_config``, initialised at random and saved, then loaded back the way a user's checkpoint
is (``open_clip:MODEL@FILE``), from a ``local-dir:`` folder and from a hub repository in a local
Hugging Face cache. Tests that need open_clip are marked ``zoo`` (they run in the zoo venv).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from dasag.scorers.openclip import FAMILY, cached_names, hub_files, resolve
from dasag.scorers.optional import ZooLibraryError
from dasag.scorers.weights import MissingWeightsError, use_weight_locations

zoo = pytest.mark.zoo

TINY = "dasag-tiny-vit"
WIDE = "dasag-tiny-vit-wide"  # another shape: its checkpoint does not fit TINY
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
WIDE_CONFIG = {**TINY_CONFIG, "embed_dim": 48}
#: A preprocessing unlike open_clip's defaults, so a scorer that guessed them would be caught.
OWN_PREPROCESS = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "interpolation": "bilinear", "resize_mode": "squash"}
PROMPTS = (["a red apple on a table"], ["blurry"])


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny architectures registered with open_clip, a random checkpoint of each, a local-dir folder, a
    hub repository in a private Hugging Face cache and two aesthetic heads (right and wrong width)."""
    import open_clip
    from safetensors.torch import save_file

    from dasag.scorers.aesthetic_head import AestheticHead

    root = tmp_path_factory.mktemp("open_clip")
    configs = root / "configs"
    configs.mkdir()
    for name, cfg in ((TINY, TINY_CONFIG), (WIDE, WIDE_CONFIG)):
        (configs / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(configs)
    torch.manual_seed(0)
    model = open_clip.create_model(TINY)
    files = {"tiny": root / "tiny.pt", "wide": root / "wide.pt", "folder": root / "folder", "no_text": root / "no_text",
             "cache": root / "hub", "head": root / "head.pth", "narrow_head": root / "narrow_head.pth"}
    torch.save(model.state_dict(), files["tiny"])
    torch.save(open_clip.create_model(WIDE).state_dict(), files["wide"])
    own = {"model_cfg": TINY_CONFIG, "preprocess_cfg": OWN_PREPROCESS}
    files["folder"].mkdir()
    (files["folder"] / "open_clip_config.json").write_text(json.dumps(own))
    save_file(model.state_dict(), str(files["folder"] / "open_clip_model.safetensors"))
    files["no_text"].mkdir()
    (files["no_text"] / "open_clip_config.json").write_text(json.dumps({"model_cfg": {"embed_dim": 32, "vision_cfg": TINY_CONFIG["vision_cfg"]}}))
    save_file(model.visual.state_dict(), str(files["no_text"] / "open_clip_model.safetensors"))
    snapshot = hub_snapshot(files["cache"], "dasag-test/tiny-open-clip")
    (snapshot / "open_clip_config.json").write_text(json.dumps(own))
    save_file(model.state_dict(), str(snapshot / "open_clip_model.safetensors"))
    torch.save(AestheticHead([32, 8, 1]).state_dict(), files["head"])
    torch.save(AestheticHead([16, 8, 1]).state_dict(), files["narrow_head"])
    files["model"] = model.eval()
    return files


def hub_snapshot(cache: Path, repo: str, commit: str = "0123456789abcdef") -> Path:
    """A repository's folder in a Hugging Face cache, laid out as huggingface_hub lays it out."""
    base = cache / f"models--{repo.replace('/', '--')}"
    (base / "refs").mkdir(parents=True, exist_ok=True)
    (base / "refs" / "main").write_text(commit)
    snapshot = base / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An offline machine with an empty Hugging Face cache of its own (returned)."""
    import huggingface_hub.constants

    cache = tmp_path / "hf_cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    use_weight_locations(None)
    yield cache
    use_weight_locations(None)


def images(n: int = 2, side: int = 48, seed: int = 0) -> torch.Tensor:
    return (torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1).requires_grad_(True)


# ---------------------------------------------------------------------- the names (no library)
@pytest.mark.parametrize("spec, args", [
    ("ViT-B-32/laion2b_s34b_b79k", {"model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"}),
    ("ViT-B-32/laion2b_s34b_b79k@/w/vit.bin", {"model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k", "checkpoint": "/w/vit.bin"}),
    ("ViT-B-32@/w/my run.safetensors", {"model": "ViT-B-32", "pretrained": "/w/my run.safetensors"}),
    ("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K", {"model": "hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K"}),
    ("local-dir:/w/clip", {"model": "local-dir:/w/clip"}),
])
def test_a_name_resolves_cheaply_to_the_scorers_arguments(spec, args):
    entry = resolve(spec)
    assert entry.name == f"open_clip:{spec}" and entry.class_path == "dasag.scorers.OpenCLIP" and entry.init_args == args and entry.text
    assert entry.config() == {"class_path": "dasag.scorers.OpenCLIP", "init_args": args}


def test_the_label_says_model_and_weights():
    assert resolve("ViT-B-32/laion2b_s34b_b79k").label == "OpenCLIP ViT-B-32 (laion2b_s34b_b79k)"
    assert resolve("ViT-B-32@/w/mine.pt").label == "OpenCLIP ViT-B-32 (mine.pt)"


@pytest.mark.parametrize("spec, words", [
    ("ViT-B-32", "names no pretrained tag or checkpoint file"),
    ("ViT-B-32/", "empty or extra part"),
    ("/laion2b_s34b_b79k", "empty or extra part"),
    ("ViT-B-32@", "empty or extra part"),
    ("ViT-B-32/a/b", "empty or extra part"),
    ("hf-hub:", "names no repository"),
    ("hf-hub:laion", "is not a hub repository ORG/REPO"),
    ("hf-hub:laion/x@/w/f.bin", "is not a hub repository ORG/REPO"),
    ("local-dir:", "names no folder"),
])
def test_a_malformed_name_is_one_sentence_with_the_forms(spec, words):
    with pytest.raises(ValueError) as e:
        resolve(spec)
    text = str(e.value)
    assert words in text and "open_clip:MODEL/TAG" in text and "open_clip:MODEL@FILE" in text and "\n" not in text


def test_the_family_declares_its_form_and_extra():
    assert (FAMILY.prefix, FAMILY.form, FAMILY.extra) == ("open_clip", "open_clip:MODEL/TAG", "zoo")
    assert FAMILY.resolve(FAMILY.example.partition(":")[2]).init_args == {"model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"}


def test_the_registry_reads_the_family():
    from dasag.scorers import registry

    assert registry.get("open_clip:ViT-B-32/openai").init_args == {"model": "ViT-B-32", "pretrained": "openai"}
    assert "open_clip:MODEL/TAG" in registry.forms()


def test_hub_entries_name_the_files_open_clip_reads():
    assert hub_files("laion/CLIP-ViT-B-32-laion2B-s34B-b79K/") == (
        "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"))
    assert hub_files("timm/x/open_clip_pytorch_model.bin") == ("timm/x", ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"))
    assert hub_files("org/x/weights.pth") == ("org/x", ("weights.safetensors", "weights.pth"))
    assert hub_files("org/x/weights.safetensors") == ("org/x", ("weights.safetensors",))


def test_importing_the_module_or_resolving_a_name_does_not_import_open_clip():
    code = ("import sys; from dasag.scorers import registry; registry.get('open_clip:ViT-B-32/openai'); "
            "import dasag.scorers.openclip; assert 'open_clip' not in sys.modules, 'imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_open_clip_the_scorer_is_one_sentence_and_nothing_is_available(monkeypatch, tmp_path):
    from dasag.scorers import OpenCLIP

    monkeypatch.setitem(sys.modules, "open_clip", None)  # what Python does for a package that is not there
    with pytest.raises(ZooLibraryError, match=r"^open_clip scorers need open_clip_torch, which is not installed: pip install 'dasag\[zoo\]'"):
        OpenCLIP("ViT-B-32", pretrained="laion2b_s34b_b79k")
    hub_snapshot(tmp_path, "laion/CLIP-ViT-B-32-laion2B-s34B-b79K").joinpath("open_clip_model.safetensors").write_bytes(b"x")
    assert cached_names(tmp_path) == ()


def test_an_empty_cache_lists_nothing_without_importing_open_clip(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "open_clip", None)
    (tmp_path / "datasets--x--y").mkdir()
    assert cached_names(tmp_path) == () and cached_names(tmp_path / "missing") == ()


# -------------------------------------------------------------- bad input, before any weights
@zoo
@pytest.mark.parametrize("args, words", [
    ({"model": "ViT-B-33", "pretrained": "openai"}, "unknown open_clip model 'ViT-B-33' (closest: ViT-B-32"),
    ({"model": "vit-b-32", "pretrained": "openai"}, "(closest: ViT-B-32"),
    ({"model": "ViT-B-32", "pretrained": "laion2b_s34b_b79"}, "has no pretrained tag 'laion2b_s34b_b79' (closest: laion2b_s34b_b79k"),
    ({"model": "ViT-B-32"}, "needs its weights: a pretrained tag (e.g. openai) or a local checkpoint file"),
    ({"model": "ViT-B-32", "pretrained": "openia", "checkpoint": "/w/x.bin"}, "has no pretrained tag 'openia' (closest: openai"),
    ({"model": "hf-hub:laion/x", "pretrained": "openai"}, "brings its own weights: leave pretrained and checkpoint unset"),
    ({"model": "hf-hub:laion", "pretrained": None}, "is not a hub repository: write hf-hub:ORG/REPO"),
    ({"model": "ViT-B-32", "pretrained": "openai", "dtype": "float64"}, "dtype must be one of auto, bf16, fp16, fp32"),
    ({"model": "ViT-B-32", "pretrained": "openai", "attn_implementation": "flash"}, "attn_implementation must be one of auto, flash_attention_2"),
    ({"model": "", "pretrained": "openai"}, "model must be a non-empty string"),
])
def test_bad_names_and_settings_are_one_sentence_at_construction(args, words):
    from dasag.scorers import OpenCLIP

    with pytest.raises(ValueError) as e:
        OpenCLIP(**args)
    assert words in str(e.value) and "\n" not in str(e.value)


@zoo
def test_a_missing_checkpoint_file_is_one_sentence_at_construction(tmp_path):
    from dasag.scorers import OpenCLIP

    with pytest.raises(MissingWeightsError, match=r"open_clip pretrained file '.*nope\.bin' does not exist: name an existing local checkpoint file"):
        OpenCLIP("ViT-B-32", pretrained=str(tmp_path / "nope.bin"))
    with pytest.raises(MissingWeightsError, match=r"open_clip checkpoint file '.*nope\.bin' does not exist: .*\(the laion2b_s34b_b79k weights\)"):
        OpenCLIP("ViT-B-32", pretrained="laion2b_s34b_b79k", checkpoint=str(tmp_path / "nope.bin"))


@zoo
@pytest.mark.parametrize("model, tag, repo", [
    ("ViT-B-32", "laion2b_s34b_b79k", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"),
    ("ViT-B-32-quickgelu", "laion400m_e32", "timm/vit_base_patch32_clip_224.laion400m_e32"),
    ("ViT-B-32-quickgelu", "openai", "timm/vit_base_patch32_clip_224.openai"),
])
def test_offline_without_the_weights_says_what_to_download_and_where_to_point_it(offline, model, tag, repo):
    from dasag.scorers import OpenCLIP

    scorer = OpenCLIP(model, pretrained=tag)
    with pytest.raises(MissingWeightsError) as e:
        scorer.validate_prompts(*PROMPTS)
    text = str(e.value)
    assert text.startswith(f"open_clip weights {model}/{tag} are not in the local Hugging Face cache and the machine is offline")
    assert f"hf download {repo}" in text and f"open_clip:{model}/{tag}@FILE" in text and "\n" not in text
    assert not scorer.loaded


@zoo
def test_offline_a_hub_model_not_in_the_cache_is_one_sentence(offline):
    from dasag.scorers import OpenCLIP

    scorer = OpenCLIP("hf-hub:dasag-test/absent")
    with pytest.raises(MissingWeightsError, match=r"not in the local Hugging Face cache .*hf download dasag-test/absent .*local-dir:DIR"):
        scorer.validate_prompts(*PROMPTS)


@zoo
def test_a_model_without_a_text_tower_is_refused_with_text_prompts(tiny_files):
    from dasag.scorers import OpenCLIP

    scorer = OpenCLIP(f"local-dir:{tiny_files['no_text']}")
    with pytest.raises(ValueError, match=r"has no text tower in its config, so it cannot read text prompts"):
        scorer.validate_prompts(*PROMPTS)
    assert not scorer.loaded


@zoo
def test_a_folder_without_its_config_is_one_sentence(tmp_path):
    from dasag.scorers import OpenCLIP

    with pytest.raises(MissingWeightsError, match=r"does not exist or lacks open_clip_config.json and a weights file"):
        OpenCLIP(f"local-dir:{tmp_path}").validate_prompts(*PROMPTS)


# ------------------------------------------------------------ the real loading code, offline
@zoo
def test_a_users_checkpoint_loads_scores_and_passes_the_gradient_to_the_picture(tiny_files):
    from dasag.scorers import OpenCLIP, registry

    scorer = registry.build(f"open_clip:{TINY}@{tiny_files['tiny']}")
    assert isinstance(scorer, OpenCLIP) and not scorer.loaded and scorer.variant == f"{TINY}@tiny.pt"
    scorer.prepare(*PROMPTS)
    assert scorer.attention == "sdpa" and scorer.model_dtype == torch.float32 and scorer.embedding_dim == 32
    assert all(not p.requires_grad for p in scorer.parameters()) and not scorer.model.training
    x = images()
    scores = scorer(x)
    assert scores.bounded and scores.aesthetic is None and scores.positive.shape == (2,) and scores.negative.shape == (2,)
    assert torch.allclose(scores.embedding.norm(dim=-1), torch.ones(2), atol=1e-5)
    scores.positive.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # one vision pass: the similarity is that embedding against the cached prompt embedding
    assert torch.allclose(scores.positive, scores.embedding @ scorer.positive_emb[0], atol=1e-6)


@zoo
def test_text_embeddings_are_open_clips_own_normalised_and_cached_per_prompt(tiny_files):
    import open_clip

    from dasag.scorers import OpenCLIP

    scorer = OpenCLIP(TINY, pretrained=str(tiny_files["tiny"]))
    scorer.prepare(["a red apple", "a green tree"], [])
    reference = tiny_files["model"]
    with torch.no_grad():
        expected = reference.encode_text(open_clip.get_tokenizer(TINY)(["a red apple", "a green tree"]), normalize=True)
    assert torch.allclose(scorer.positive_emb, expected, atol=1e-6) and scorer.negative_emb.shape == (0, 32)
    cached = scorer.positive_emb[0].clone()
    scorer.prepare(["a blue sky", "a red apple"], ["a green tree"])  # only the new prompt goes through the tower
    assert torch.equal(scorer.positive_emb[1], cached) and torch.allclose(scorer.negative_emb[0], expected[1], atol=1e-6)


@zoo
def test_a_prompt_longer_than_the_text_tower_warns_that_it_is_cut(tiny_files):
    from dasag.scorers import OpenCLIP

    scorer = OpenCLIP(TINY, pretrained=str(tiny_files["tiny"]))
    with pytest.warns(UserWarning, match=r"is 2\d tokens long but the text tower reads at most 16; it is truncated"):
        scorer.prepare([" ".join(["apple"] * 20)], [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scorer.prepare(["a short one"], [])  # 5 tokens with start and end: no warning


@zoo
def test_preprocessing_is_open_clips_own_record_of_the_weights(tiny_files):
    import open_clip

    from dasag.scorers import OpenCLIP

    for model in (f"local-dir:{tiny_files['folder']}",):
        scorer = OpenCLIP(model)
        scorer.prepare(*PROMPTS)
        own = open_clip.get_model_preprocess_cfg(open_clip.create_model(model))
        record = scorer.preprocessing
        assert (record.size, record.mean, record.std, record.mode) == (own["size"][0], tuple(own["mean"]), tuple(own["std"]), own["interpolation"])
        assert (record.mean, record.std, record.mode, scorer.resize_mode) == ((0.5,) * 3, (0.25,) * 3, "bilinear", "squash")
    bare = OpenCLIP(TINY, pretrained=str(tiny_files["tiny"]))  # a file without a tag: open_clip's own defaults for a file
    bare.prepare(*PROMPTS)
    own = open_clip.get_model_preprocess_cfg(open_clip.create_model(TINY, pretrained=str(tiny_files["tiny"])))
    assert (bare.preprocessing.size, bare.preprocessing.mean, bare.preprocessing.std) == (32, tuple(own["mean"]), tuple(own["std"]))


@zoo
def test_a_tags_preprocessing_comes_with_its_local_file():
    import open_clip

    from dasag.scorers.openclip import preprocessing_of, tag_preprocess

    cfg = open_clip.get_pretrained_cfg("ViT-B-16-SigLIP", "webli")
    record = preprocessing_of({"size": 224, **tag_preprocess(cfg)}, "test")
    assert (record.mean, record.std, record.mode) == (tuple(cfg["mean"]), tuple(cfg["std"]), cfg["interpolation"]) and record.mean == (0.5,) * 3
    with pytest.raises(ValueError, match=r"reads 224x256 images; an open_clip scorer takes models with a square input"):
        preprocessing_of({"size": (224, 256)}, "open_clip model 'x'")


@zoo
def test_a_local_dir_and_a_cached_hub_repository_load_through_open_clip(tiny_files, offline, monkeypatch):
    import huggingface_hub.constants

    from dasag.scorers import OpenCLIP

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tiny_files["cache"]))
    scores = []
    for model in (f"local-dir:{tiny_files['folder']}", "hf-hub:dasag-test/tiny-open-clip"):
        scorer = OpenCLIP(model)
        scorer.validate_prompts(*PROMPTS)
        scorer.prepare(*PROMPTS)
        scores.append(scorer(images()).positive.detach())
    assert torch.allclose(scores[0], scores[1], atol=1e-6)  # the same weights either way


@zoo
def test_a_checkpoint_of_another_shape_is_one_sentence_naming_file_and_model(tiny_files):
    from dasag.scorers import OpenCLIP

    scorer = OpenCLIP(TINY, pretrained=str(tiny_files["wide"]))
    scorer.validate_prompts(*PROMPTS)  # the file is there; whether it fits is known when it is read
    with pytest.raises(ValueError) as e:
        scorer.prepare(*PROMPTS)
    text = str(e.value)
    assert f"open_clip checkpoint '{tiny_files['wide']}' does not fit model '{TINY}' (size mismatch for" in text and "\n" not in text


@zoo
def test_an_unsafe_or_cut_checkpoint_is_refused_in_one_sentence(tiny_files, tmp_path):
    from dasag.scorers import OpenCLIP

    pickled = tmp_path / "pickled.pt"
    torch.save({"state_dict": tiny_files["model"].state_dict(), "note": Path("not a tensor")}, pickled)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(tiny_files["tiny"].read_bytes()[:5000])
    for path, words in ((pickled, "refusing to load"), (cut, "is truncated or not a torch file")):
        with pytest.raises(ValueError) as e:
            OpenCLIP(TINY, pretrained=str(path)).prepare(*PROMPTS)
        assert words in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


@zoo
def test_an_aesthetic_head_of_the_embedding_width_scores_and_another_is_one_sentence(tiny_files):
    from dasag.scorers import OpenCLIP

    scorer = OpenCLIP(TINY, pretrained=str(tiny_files["tiny"]), aesthetic_head=str(tiny_files["head"]))
    assert scorer.capabilities.aesthetic
    scorer.prepare(*PROMPTS)
    x = images()
    scores = scorer(x)
    assert scores.aesthetic is not None and scores.aesthetic.shape == (2,)
    assert torch.allclose(scores.aesthetic, scorer.head(scores.embedding), atol=1e-6)
    scores.aesthetic.sum().backward()
    assert x.grad.abs().sum() > 0
    narrow = OpenCLIP(TINY, pretrained=str(tiny_files["tiny"]), aesthetic_head=str(tiny_files["narrow_head"]))
    with pytest.raises(ValueError, match=r"reads 16-dim embeddings but the model makes 32-dim ones"):
        narrow.prepare(*PROMPTS)


@zoo
def test_an_aesthetic_head_that_is_not_there_is_refused_before_loading(tiny_files, tmp_path):
    from dasag.scorers import OpenCLIP

    scorer = OpenCLIP(TINY, pretrained=str(tiny_files["tiny"]), aesthetic_head=str(tmp_path / "none.pth"))
    with pytest.raises(MissingWeightsError, match=r"aesthetic head file .*none\.pth' does not exist"):
        scorer.validate_prompts(*PROMPTS)
    assert not scorer.loaded


@zoo
def test_eager_attention_is_sdpas_math_backend_with_the_same_scores(tiny_files):
    from torch.profiler import profile

    from dasag.scorers import OpenCLIP

    kernels, embeddings = {}, {}
    for attention in ("sdpa", "eager"):
        scorer = OpenCLIP(TINY, pretrained=str(tiny_files["tiny"]), attn_implementation=attention)
        scorer.prepare(*PROMPTS)
        with profile() as prof:
            embeddings[attention] = scorer.image_embedding(images()).detach()
        kernels[attention] = {e.key for e in prof.key_averages() if "attention" in e.key}
    assert "aten::_scaled_dot_product_attention_math" in kernels["eager"]
    assert "aten::_scaled_dot_product_attention_math" not in kernels["sdpa"]
    assert torch.allclose(embeddings["sdpa"], embeddings["eager"], atol=1e-5)


@zoo
def test_flash_attention_where_it_cannot_run_falls_back_with_one_warning(tiny_files):
    from dasag.scorers import OpenCLIP

    scorer = OpenCLIP(TINY, pretrained=str(tiny_files["tiny"]), attn_implementation="flash_attention_2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scorer.prepare(*PROMPTS)
    said = [str(w.message) for w in caught if "flash_attention_2" in str(w.message)]
    assert len(said) == 1 and "using 'sdpa'" in said[0] and scorer.attention == "sdpa"


@zoo
def test_bf16_weights_score_in_float32_and_pass_the_gradient(tiny_files):
    from dasag.scorers import OpenCLIP

    scorer = OpenCLIP(TINY, pretrained=str(tiny_files["tiny"]), dtype="bf16")
    scorer.prepare(*PROMPTS)
    assert scorer.model_dtype == torch.bfloat16 and scorer.model.visual.conv1.weight.dtype == torch.bfloat16
    x = images()
    scores = scorer(x)
    assert scores.positive.dtype == torch.float32 and scores.embedding.dtype == torch.float32
    scores.positive.sum().backward()
    assert x.grad.abs().sum() > 0


@zoo
def test_an_input_size_the_position_embeddings_cannot_take_is_one_sentence(tiny_files):
    from dasag.scorers import OpenCLIP

    fits = OpenCLIP(TINY, pretrained=str(tiny_files["tiny"]), input_size=36)  # still 4 x 4 patches of 8 px
    fits.prepare(*PROMPTS)
    assert fits.input_size == 36 and fits(images()).positive.shape == (2,)
    with pytest.raises(ValueError, match=r"scorer input_size 48 does not fit open_clip model 'dasag-tiny-vit@tiny.pt', trained at \(32, 32\) px"):
        OpenCLIP(TINY, pretrained=str(tiny_files["tiny"]), input_size=48).prepare(*PROMPTS)


@zoo
def test_a_tag_on_an_architecture_of_the_other_activation_is_named_with_the_name_that_fits():
    from dasag.scorers.openclip import activation_warning

    text = activation_warning("ViT-B-32", "openai")  # OpenAI's weights were trained with QuickGELU
    assert text is not None and "trained with QuickGELU" in text and "name ViT-B-32-quickgelu/openai to score as they were trained" in text
    assert activation_warning("ViT-B-32-quickgelu", "openai") is None and activation_warning("ViT-B-32", "laion2b_s34b_b79k") is None


@zoo
def test_cached_weights_are_listed_by_name_and_only_with_the_activation_they_were_trained_with(tmp_path):
    hub_snapshot(tmp_path, "laion/CLIP-ViT-B-32-laion2B-s34B-b79K").joinpath("open_clip_model.safetensors").write_bytes(b"x")
    hub_snapshot(tmp_path, "timm/vit_base_patch32_clip_224.openai").joinpath("open_clip_pytorch_model.bin").write_bytes(b"x")
    own = hub_snapshot(tmp_path, "someone/their-clip")
    own.joinpath("open_clip_config.json").write_text("{}")
    own.joinpath("open_clip_model.safetensors").write_bytes(b"x")
    hub_snapshot(tmp_path, "someone/a-classifier").joinpath("config.json").write_text("{}")
    hub_snapshot(tmp_path, "timm/vit_base_patch32_clip_224.laion400m_e32")  # the folder, but not the weights
    names = set(cached_names(tmp_path))
    assert names == {"open_clip:ViT-B-32/laion2b_s34b_b79k", "open_clip:ViT-B-32-quickgelu/openai", "open_clip:hf-hub:someone/their-clip"}


# --------------------------------------------------------------------------- a real fit
@zoo
@pytest.mark.slow
def test_a_short_fit_guided_by_the_tiny_model_writes_a_picture(tiny_files, tmp_path):
    from PIL import Image

    from dasag.core.config import CONFIGS, deep_merge, load_config
    from dasag.run.build import build_run

    small = {
        "trainer": {"max_steps": 3, "accelerator": "cpu", "default_root_dir": str(tmp_path), "logger": False, "enable_checkpointing": False,
                    "callbacks": [], "enable_progress_bar": False, "enable_model_summary": False},
        "model": {"pyramid": {"init_args": {"max_size": 64, "max_shift": 8}}, "augment": {"init_args": {"batch_size": 2}},
                  "scorer": {"class_path": "dasag.scorers.OpenCLIP", "init_args": {"model": TINY, "pretrained": str(tiny_files["tiny"])}}},
        "data": {"positive_prompts": ["a red apple"], "negative_prompts": ["blurry"], "prompts_file": None},
    }
    built = build_run(deep_merge(load_config(CONFIGS / "das.yaml"), small), load_weights=True)
    scorer = built.model.scorer.members[0]
    assert scorer.loaded and scorer.variant == f"{TINY}@tiny.pt"
    before = [p.detach().clone() for p in built.model.pyramid.parameters()]
    built.fit()
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, built.model.pyramid.parameters()))
    written = built.picture().write(tmp_path / "apple.png")
    with Image.open(written[0]) as image:
        assert image.size == (48, 48) and image.mode == "RGB"


@zoo
def test_the_cost_of_a_copy_is_counted_on_the_architecture_with_random_weights(tiny_files):
    from torch.utils.flop_counter import FlopCounterMode

    from dasag.scorers import OpenCLIP

    scorer = OpenCLIP(TINY, pretrained=str(tiny_files["tiny"]))
    net = scorer.counting_network()
    assert not scorer.loaded and not torch.equal(net.conv1.weight, tiny_files["model"].visual.conv1.weight)  # random, not the file's
    x = torch.zeros(1, 3, 32, 32, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        net(x).sum().backward()
    # 2 layers of 17 tokens x (4 * 32 * 32 attention projections + 2 * 32 * 128 MLP) multiply-adds, forward and backward, and more
    assert net(x).shape == (1, 32) and counter.get_total_flops() > 2 * 2 * 2 * 17 * (4 * 32 * 32 + 2 * 32 * 128)
    assert OpenCLIP("hf-hub:dasag-test/tiny-open-clip").counting_network() is None


def test_a_cache_of_other_models_lists_nothing_without_importing_open_clip(monkeypatch, tmp_path):
    import dasag.scorers.openclip as module

    tried: list[str] = []
    monkeypatch.setattr(module, "import_zoo_library", lambda name: tried.append(name))  # seconds on a real machine, at every page redraw
    hub_snapshot(tmp_path, "google/siglip-so400m-patch14-384").joinpath("model.safetensors").write_bytes(b"x")
    assert cached_names(tmp_path) == () and tried == []


@zoo
@pytest.mark.slow
def test_a_tags_file_read_from_disk_keeps_the_tags_preprocessing(tmp_path):
    """PE-Core-T (a timm image tower, 70 M parameters) with random weights saved in fp16: its tag ``meta`` reads
    bilinear, squashed, mean 0.5 pixels, not open_clip's defaults for a bare file (OpenAI's mean, bicubic)."""
    import open_clip

    from dasag.scorers import OpenCLIP, registry

    torch.manual_seed(0)
    state = {k: v.half() for k, v in open_clip.create_model("PE-Core-T-16-384").state_dict().items()}
    path = tmp_path / "pe_core_t.pt"
    torch.save(state, path)
    del state
    tagged = registry.build(f"open_clip:PE-Core-T-16-384/meta@{path}")
    assert isinstance(tagged, OpenCLIP) and tagged.variant == "PE-Core-T-16-384/meta"
    tagged.prepare(["a lighthouse"], [])
    cfg = open_clip.get_pretrained_cfg("PE-Core-T-16-384", "meta")
    record = tagged.preprocessing
    assert (record.size, record.mean, record.std, record.mode, tagged.resize_mode) == (
        384, tuple(cfg["mean"]), tuple(cfg["std"]), cfg["interpolation"], cfg["resize_mode"]) == (384, (0.5,) * 3, (0.5,) * 3, "bilinear", "squash")
    x = images(1, 64)
    tagged(x).positive.sum().backward()
    assert x.grad.abs().sum() > 0
