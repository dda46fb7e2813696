"""Any timm ImageNet classifier as a scorer, tested offline on timm's tiny test architectures
(``test_resnet``, ``test_vit``) with random weights saved to a file and read back through the path a
user's file takes (``timm:NAME@FILE``); the hub path reads the same file from a local cache. No test
downloads anything. Tests that need timm are marked ``zoo`` (the zoo venv); the rest need no library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dasag.scorers import registry
from dasag.scorers.timm_classifier import resolve

zoo = pytest.mark.zoo
GUIDE = "test_resnet.r160_in1k"  # 160 px, stochastic depth, batch norm: a ResNet of a few thousand weights
JUDGE = "test_vit.r160_in1k"  # a ViT with a fixed 160 px input


# ------------------------------------------------------------------ names (no timm needed)
def test_a_timm_name_resolves_cheaply_to_the_model_and_its_weights_file():
    entry = registry.get("timm:resnet50.a1_in1k")
    assert entry.config() == {"class_path": "dasag.scorers.TimmClassifier", "init_args": {"model": "resnet50.a1_in1k"}}
    assert entry.name == "timm:resnet50.a1_in1k" and not entry.text and not entry.offline and "resnet50.a1_in1k" in entry.label
    with_file = registry.get("timm:convnext_tiny@/weights/my model.safetensors")
    assert with_file.init_args == {"model": "convnext_tiny", "weights_path": "/weights/my model.safetensors"}
    assert "my model.safetensors" in with_file.label
    assert resolve("resnet18").init_args == {"model": "resnet18"}


@pytest.mark.parametrize("name", ["timm:res net", "timm:resnet50@", "timm:.a1_in1k", "timm:hf-hub:timm/resnet50", "timm:resnet50/a1_in1k"])
def test_a_malformed_timm_name_is_one_sentence_with_the_form(name):
    with pytest.raises(ValueError, match=r"is not a timm model name .*write it as timm:NAME or timm:NAME.TAG") as e:
        registry.get(name)
    assert str(e.value).startswith(f"scorer {name!r}: ") and "\n" not in str(e.value) and str(e.value).endswith(".")


def test_the_timm_family_declares_its_form_and_extra():
    family = next(f for f in registry.families() if f.prefix == "timm")
    assert family.form == "timm:NAME[.TAG][@FILE]" and family.extra == "zoo" and registry.get(family.example).name == family.example
    assert "timm:NAME[.TAG][@FILE]" in registry.forms()


def test_importing_the_scorers_does_not_import_timm():
    code = "import sys, dasag.scorers, dasag.scorers.timm_classifier; print('timm' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_no_cached_weights_lists_nothing(tmp_path):
    from dasag.scorers.timm_classifier import cached_names

    assert cached_names(tmp_path) == () and cached_names(tmp_path / "absent") == ()


def test_cached_weights_list_nothing_where_timm_cannot_be_imported(tmp_path, monkeypatch):
    from dasag.scorers import timm_classifier
    from dasag.scorers.optional import ZooLibraryError

    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"weights")
    _fake_hub_cache(tmp_path / "hub", "timm/resnet50.a1_in1k", weights)
    imported = []

    def missing(name: str):
        imported.append(name)
        raise ZooLibraryError("timm scorers need timm, which is not installed.")

    monkeypatch.setattr(timm_classifier, "import_zoo_library", missing)
    assert timm_classifier.cached_names(tmp_path / "hub") == () and imported == ["timm"]


# ----------------------------------------------------------------------------- helpers
def _save(path: Path, model: str, seed: int, **kwargs) -> Path:
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    net = timm.create_model(model, pretrained=False, **kwargs)
    for m in net.modules():  # timm zero-initialises each residual branch's last norm: random ones make every branch count
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.normal_(m.weight, 1.0, 0.3)
            m.running_mean.normal_(0.0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    if path.suffix == ".safetensors":
        save_file(net.state_dict(), str(path))
    else:
        torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Random weights of the tiny guide and judge (safetensors, and the guide as .pth), and a guide with a 10-class head."""
    folder = tmp_path_factory.mktemp("timm")
    return {
        "guide": _save(folder / "guide.safetensors", GUIDE, 0),
        "guide_pth": _save(folder / "guide.pth", GUIDE, 0),
        "judge": _save(folder / "judge.safetensors", JUDGE, 1),
        "ten_classes": _save(folder / "ten.safetensors", GUIDE, 2, num_classes=10),
    }


def _reference(model: str, file: Path, **kwargs):
    """timm's own model with the same weights, loaded by hand: what the scorer must agree with."""
    import timm
    from safetensors.torch import load_file

    net = timm.create_model(model, pretrained=False, **kwargs)
    net.load_state_dict(load_file(str(file)))
    return net.eval()


def _images(n: int = 2, side: int = 96) -> torch.Tensor:
    return torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(3)) * 2 - 1


def _fake_hub_cache(root: Path, repo: str, file: Path, filename: str = "model.safetensors") -> Path:
    """The Hugging Face cache layout (refs/main -> snapshots/<commit>/FILE) holding ``file`` for ``repo``."""
    folder = root / f"models--{repo.replace('/', '--')}"
    commit = "0" * 40
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (snapshot / filename).write_bytes(file.read_bytes())
    return root


# --------------------------------------------------------------------------- loading
@zoo
def test_a_users_file_loads_through_the_registry_and_gives_timms_own_logits(files):
    import timm

    scorer = registry.build(f"timm:{GUIDE}@{files['guide']}")
    assert type(scorer).__name__ == "TimmClassifier" and not scorer.loaded and scorer.capabilities.classifier
    reference = _reference(GUIDE, files["guide"])
    # the input record is timm's data config of the model, never guessed (crop_pct left out: docstring)
    config = timm.data.resolve_model_data_config(reference)
    record = scorer.preprocessing
    assert (record.size, record.mean, record.std, record.mode, record.pixel_scale) == (
        config["input_size"][1], tuple(config["mean"]), tuple(config["std"]), config["interpolation"], 0.5)
    images = _images()
    x = scorer.preprocess(images)  # [0, 1] pixels normalised by timm's mean and std
    pixels = torch.nn.functional.interpolate((images + 1) / 2, size=(160, 160), mode=config["interpolation"], antialias=True)
    torch.testing.assert_close(x, (pixels - torch.tensor(config["mean"]).view(1, 3, 1, 1)) / torch.tensor(config["std"]).view(1, 3, 1, 1))
    with torch.no_grad():
        assert torch.equal(scorer.logits(images), reference(x))
        pooled = reference.forward_head(reference.forward_features(x), pre_logits=True)
    torch.testing.assert_close(scorer.features(images), torch.nn.functional.normalize(pooled, dim=-1))
    scorer.prepare(["goldfish", "7"], ["tench"])
    s = scorer(images)
    log_probs = reference(x).log_softmax(-1)
    torch.testing.assert_close(s.positive, (log_probs[:, 1] + log_probs[:, 7]) / 2)
    torch.testing.assert_close(s.negative, log_probs[:, 0])
    assert not s.bounded and torch.allclose(s.embedding.norm(dim=-1), torch.ones(2))
    # a .pth state dict of the same weights is read alike (torch.load with weights_only)
    pth = registry.build(f"timm:{GUIDE}@{files['guide_pth']}")
    assert torch.equal(pth.logits(images), scorer.logits(images))
    assert all(not p.requires_grad for p in scorer.parameters()) and not any(m.training for m in scorer.modules())


@zoo
def test_the_tags_weights_load_offline_from_the_local_cache_through_timm(files, tmp_path, monkeypatch):
    """No weights_path: timm's own hub path reads timm/NAME from the Hugging Face cache (here a local
    one holding the random file), offline, and gives what the same file gives as weights_path."""
    from huggingface_hub import constants

    from dasag.scorers import TimmClassifier
    from dasag.scorers.timm_classifier import cached_names
    from dasag.scorers.weights import WeightLocations, use_weight_locations

    cache = _fake_hub_cache(tmp_path / "hub", f"timm/{GUIDE}", files["guide"])
    _fake_hub_cache(cache, "timm/vit_base_patch16_224.augreg_in21k", files["judge"])  # cached, but no ImageNet-1k head
    _fake_hub_cache(cache, "someone/else", files["judge"])
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert cached_names(cache) == (f"timm:{GUIDE}",)
    assert f"timm:{GUIDE}" in [e.name for e in registry.available()]
    use_weight_locations(WeightLocations(offline=True))
    try:
        hub = TimmClassifier(GUIDE)
        hub.validate_prompts(["goldfish"], [])
        images = _images()
        assert torch.equal(hub.logits(images), TimmClassifier(GUIDE, weights_path=str(files["guide"])).logits(images))
    finally:
        use_weight_locations(None)


@zoo
def test_weights_missing_offline_are_one_sentence_naming_what_to_download(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from dasag.scorers import TimmClassifier
    from dasag.scorers.weights import MissingWeightsError, WeightLocations, use_weight_locations

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    use_weight_locations(WeightLocations(offline=True))
    try:
        scorer = TimmClassifier("test_resnet")  # the architecture's default tag
        for check in (lambda: scorer.validate_prompts(["goldfish"], []), scorer.load):
            with pytest.raises(MissingWeightsError, match=rf"timm model '{GUIDE}' are not in the local cache and the machine is offline: "
                               rf"get them with `hf download timm/{GUIDE}` .*weights_path, timm:test_resnet@FILE") as e:
                check()
            assert "\n" not in str(e.value)
        assert not scorer.loaded
    finally:
        use_weight_locations(None)


@zoo
def test_a_file_that_does_not_fit_is_one_sentence_naming_the_file_and_the_model(files, tmp_path):
    from dasag.scorers import TimmClassifier

    for file, detail in ((files["ten_classes"], r"size mismatch for fc.weight"), (files["judge"], r"Missing key\(s\) in state_dict")):
        scorer = TimmClassifier(GUIDE, weights_path=str(file))
        with pytest.raises(ValueError, match=rf"^weights file '{file}' does not fit timm model '{GUIDE}' \({detail}.*\); name the model") as e:
            scorer.load()
        assert "\n" not in str(e.value) and not scorer.loaded
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match="is truncated or not a safetensors file"):
        TimmClassifier(GUIDE, weights_path=str(garbage)).load()


# ----------------------------------------------------------------------------- bad input
@zoo
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"model": "resnet5o"}, r"^unknown timm model 'resnet5o' \(closest: resnet50, .*\); timm has \d+ architectures \(timm.list_models\(\)\)"),
    ({"model": "test_resnet.r160_in1kk"}, r"^timm model 'test_resnet' has no pretrained tag 'r160_in1kk' \(closest: test_resnet.r160_in1k\); its tags are"),
    ({"model": "vit_base_patch16_224.augreg_in21k"}, r"has a head of 21843 classes, not ImageNet's 1000, and a TimmClassifier reads ImageNet class "
                                                     r"prompts; name a tag with an ImageNet-1k head such as vit_base_patch16_224\."),
    ({"model": "vit_small_patch14_dinov2"}, r"'vit_small_patch14_dinov2.lvd142m' has no classifier head \(a feature extractor\)"),
    ({"model": GUIDE, "weights_path": "/nonexistent/w.safetensors"}, r"weights file '/nonexistent/w.safetensors' of timm model .* does not exist"),
    ({"model": GUIDE, "score": "logit", "margin_cap": 5.0}, r"margin_cap applies only with score: margin"),
    ({"model": "vgg11", "drop_connect": 0.1}, r"drop_connect needs a model with stochastic depth, and timm model 'vgg11' has none"),
    ({"model": JUDGE, "input_size": 224}, r"timm model 'test_vit.r160_in1k' reads a fixed 160 px input .* got input_size 224"),
    ({"model": JUDGE, "input_sizes": (128, 192)}, r"reads a fixed 160 px input"),
    ({"model": "resnet50 "}, None),  # a name with spaces around it is the name
    ({"model": "resnet-50"}, r"TimmClassifier model must be a timm model name with an optional pretrained tag"),
])
def test_bad_input_is_one_sentence_before_any_weights_load(kwargs, message):
    from dasag.scorers import TimmClassifier

    if message is None:
        assert TimmClassifier(**kwargs).model_name == kwargs["model"].strip()
        return
    with pytest.raises(ValueError, match=message) as e:
        TimmClassifier(**kwargs)
    assert "\n" not in str(e.value) and str(e.value).endswith(".")


@zoo
def test_registry_check_gives_the_constructors_sentence_with_close_matches():
    with pytest.raises(ValueError, match=r"^--eval-scorer 'timm:resnet5o': unknown timm model 'resnet5o' \(closest: resnet50"):
        registry.check("timm:resnet5o", "--eval-scorer")
    with pytest.raises(ValueError, match=r"^--eval-scorer 'timm:resnet50@': .*write it as timm:NAME"):
        registry.check("timm:resnet50@", "--eval-scorer")


# ------------------------------------------------------------------------ drop-connect
@zoo
def test_drop_connect_thins_the_guide_only_while_it_guides(files):
    """Images that carry a gradient meet timm's stochastic depth, drawn from the global generator (the
    run seeds it per step); images without one meet the whole network whatever the grad mode, and
    batch norm stays in eval mode throughout."""
    from dasag.scorers import TimmClassifier

    plain = TimmClassifier(GUIDE, weights_path=str(files["guide"]))
    thinned = TimmClassifier(GUIDE, weights_path=str(files["guide"]), drop_connect=0.5)
    for s in (plain, thinned):
        s.prepare(["goldfish"], [])
    assert thinned.stochastic and not plain.stochastic
    images = _images()
    with torch.no_grad():
        whole = plain(images).positive
        assert torch.equal(thinned(images).positive, whole)
    assert torch.equal(thinned(images).positive, whole)  # grad mode on, but the picture carries no gradient
    copies = images.clone().requires_grad_()
    torch.manual_seed(3)
    a = thinned(copies).positive
    b = thinned(copies).positive
    torch.manual_seed(3)
    with torch.no_grad():
        again = thinned(copies).positive
    assert not torch.allclose(a, b) and torch.equal(a, again)  # random per call, the same for the same seed
    assert not torch.allclose(a, plain(copies).positive)
    assert torch.equal(thinned(images).positive, whole)  # the whole network again after a thinned call
    assert not any(m.training for m in thinned.modules())


@zoo
def test_drop_connect_survives_activation_checkpointing(files):
    """A checkpointed block is recomputed during the backward pass, after the scorer has returned: it
    must drop the same paths again, or the gradient would belong to another network."""
    from torch.utils.checkpoint import checkpoint

    from dasag.scorers import TimmClassifier

    scorer = TimmClassifier(GUIDE, weights_path=str(files["guide"]), drop_connect=0.5)
    scorer.prepare(["goldfish"], [])
    copies = _images().requires_grad_()

    def gradient(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return torch.autograd.grad(scorer(copies).positive.sum(), copies)[0]

    plain = TimmClassifier(GUIDE, weights_path=str(files["guide"]))
    plain.prepare(["goldfish"], [])
    plain_grad = torch.autograd.grad(plain(copies).positive.sum(), copies)[0]
    before = gradient(11)
    stages = [m for m in scorer.net.children() if any(type(d).__name__ == "DropPath" for d in m.modules())]
    assert stages
    for stage in stages:
        inner = stage.forward
        stage.forward = lambda x, _inner=inner: checkpoint(_inner, x, use_reentrant=False)
    after = gradient(11)
    assert torch.equal(before, after) and not torch.allclose(before, gradient(12)) and not torch.allclose(before, plain_grad)


# ------------------------------------------------------------------------ cost, judges
@zoo
def test_a_timm_guide_has_a_counted_cost(files):
    import timm
    from torch.utils.flop_counter import FlopCounterMode

    from dasag.quality.cost import guide_flops, image_flops

    name = f"timm:{GUIDE}@{files['guide']}"
    net = timm.create_model(GUIDE, pretrained=False).eval().requires_grad_(False)
    x = torch.zeros(1, 3, 160, 160, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        net(x).sum().backward()
    flops = registry.build(name)
    assert guide_flops(flops) == counter.get_total_flops() > 0 and not flops.loaded  # counted on random weights: the file is not read
    config = {"model": {"scorer": registry.config_of(name), "augment": {"class_path": "dasag.Augmentations", "init_args": {"batch_size": 3}}},
              "trainer": {"max_steps": 5}}
    assert image_flops(config) == 5 * 3 * counter.get_total_flops()
    members = [registry.config_of(name), {"class_path": "dasag.scorers.EfficientNetLite"}]
    ensemble = {"class_path": "dasag.scorers.ScorerEnsemble", "init_args": {"scorers": members}}
    lite0 = guide_flops(registry.build("lite0"))
    assert image_flops({**config, "model": {**config["model"], "scorer": ensemble}}) == 5 * 3 * (counter.get_total_flops() + lite0)


@zoo
def test_a_timm_judge_scores_a_picture_by_its_logits(files):
    from dasag.scorers import heldout

    name = f"timm:{JUDGE}@{files['judge']}"
    judge = heldout.judge(name)
    assert heldout.columns(name, judge) == [f"heldout/{name}/top1", f"heldout/{name}/prob"]
    assert heldout.classifier_judges(heldout.columns(name, judge) + ["heldout/lite2/top1", "look/contrast"]) == [name, "lite2"]
    image = _images(1)
    probs = judge.load().logits(image).softmax(-1)[0]
    got = heldout.score(name, judge, image, ["goldfish"], [])
    assert got == {f"heldout/{name}/top1": int(int(probs.argmax()) == 1), f"heldout/{name}/prob": pytest.approx(float(probs[1]))}


@zoo
@pytest.mark.slow
def test_a_timm_guided_transfer_run_judged_by_another_timm_model(files, tmp_path):
    """``dasag quality transfer`` end to end on random weights: the guide named timm:NAME@FILE in an
    --override config, a judge of another timm model by --eval-scorer; 1 class, 1 seed, 2 steps."""
    import pandas as pd
    import yaml

    from dasag.commands import main

    guide, judge = f"timm:{GUIDE}@{files['guide']}", f"timm:{JUDGE}@{files['judge']}"
    override = tmp_path / "timm_guide.yaml"
    override.write_text(yaml.safe_dump({"model": {"scorer": guide, "pyramid": {"init_args": {"max_size": 64, "max_shift": 8}},
                                                  "augment": {"init_args": {"batch_size": 2}}}}))

    def command(out: Path, judges: list[str]) -> list[str]:
        return ["quality", "transfer", "--out", str(out), "--classes", "1", "--seeds", "1", "--steps", "2", "--methods", "pyramid",
                "--override", str(override), "--eval-scorer", *judges, "--accelerator", "cpu", "--threads", "1"]

    out = tmp_path / "run"
    assert main(command(out, [judge])) == 0
    table = pd.read_csv(out / "scores.csv")
    assert len(table) == 1 and {f"heldout/{judge}/top1", f"heldout/{judge}/prob", "heldout/lite2/top1"} <= set(table.columns)
    assert 0 <= table[f"heldout/{judge}/prob"].iloc[0] <= 1
    report = (out / "report.md").read_text()
    assert f"{judge} top-1" in report and "| test_resnet-r160_in1k |" in report  # the judge's own columns; the guide in the guides column
    assert "†" not in report.split("Held-out summary")[0].split("\n| DAS pyramid")[1].split("\n")[0]  # no judge guided it
    assert "guide TFLOPs/image" in report  # the timm guide's cost is counted
    # the guide cannot be its own held-out judge: one sentence, exit 2, nothing written
    again = tmp_path / "again"
    assert main(command(again, [guide])) == 2
    assert not (again / "run.json").exists()
