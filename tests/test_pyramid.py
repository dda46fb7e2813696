import pytest
import torch
import torch.nn.functional as F

from dasag.pyramid import ImagePyramid
from dasag.resize import resize


def test_levels_are_powers_of_two_and_render_is_bounded():
    torch.manual_seed(0)
    p = ImagePyramid(max_size=64, max_shift=8, num_images=3)
    assert p.sizes == [1, 2, 4, 8, 16, 32, 64]
    img = p()
    assert img.shape == (3, 3, 48, 48)
    assert img.abs().max() <= 1
    assert p.canvas().shape == (3, 3, 64, 64)
    # seed formula: randn / s per level
    assert p.levels[-1].std().item() == pytest.approx(1 / 64, rel=0.2)


def test_presets_match_design():
    assert ImagePyramid.preset(384).visible_size == 384 and ImagePyramid.preset(384).max_size == 512
    p = ImagePyramid.preset(768)
    assert (p.max_size, p.max_shift, p.visible_size) == (1024, 128, 768)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "nearest"])
def test_from_image_then_render_gives_the_image_back(mode):
    p = ImagePyramid(max_size=32, max_shift=4, interpolation=mode)
    target = torch.rand(3, 24, 24) * 1.8 - 0.9
    p.set_image(target)
    assert torch.allclose(p()[0], target, atol=1e-5)


def test_init_from_image_file(tmp_path):
    from dasag.images import write_png

    target = torch.rand(3, 24, 24) * 2 - 1
    write_png(tmp_path / "x.png", target)
    p = ImagePyramid(max_size=32, max_shift=4, init_image=str(tmp_path / "x.png"))
    # 8-bit quantisation is the only loss
    assert (p()[0] - target).abs().max() < 1 / 127.5 + 1e-4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_size": 300}, "power of two"),
        ({"max_size": 64, "max_shift": 32}, "max_shift"),
        ({"num_images": 0}, "num_images"),
        ({"interpolation": "area"}, "interpolation"),
    ],
)
def test_bad_arguments_are_one_sentence(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImagePyramid(**kwargs)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "nearest"])
@pytest.mark.parametrize("n_in, n_out", [(4, 32), (48, 24), (64, 64)])
def test_matmul_resize_equals_interpolate(mode, n_in, n_out):
    """The CUDA path (matrix products, deterministic) is checked on CPU against F.interpolate."""
    x = torch.randn(2, 3, n_in, n_in, dtype=torch.float64)
    a = resize(x, n_out, mode, use_matmul=False)
    b = resize(x, n_out, mode, use_matmul=True)
    assert torch.allclose(a, b, atol=1e-10)


def test_matmul_resize_gradient_matches():
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    g1 = torch.autograd.grad(resize(x, 20, use_matmul=False).square().sum(), x)[0]
    g2 = torch.autograd.grad(resize(x, 20, use_matmul=True).square().sum(), x)[0]
    assert torch.allclose(g1, g2, atol=1e-10)


def test_render_is_the_mean_of_interpolated_levels_through_tanh():
    """The matrix-form render computes what the design says: bilinear-upsampled levels, averaged, tanh."""
    torch.manual_seed(0)
    p = ImagePyramid(max_size=32, max_shift=4, num_images=2)
    expected = torch.tanh(sum(F.interpolate(level, size=(32, 32), mode="bilinear", align_corners=False) for level in p.levels) / len(p.levels))
    got = p.canvas()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    got.square().sum().backward()
    grads = [level.grad.clone() for level in p.levels]
    p.zero_grad()
    expected = torch.tanh(sum(F.interpolate(level, size=(32, 32), mode="bilinear", align_corners=False) for level in p.levels) / len(p.levels))
    expected.square().sum().backward()
    for got_grad, level in zip(grads, p.levels):
        torch.testing.assert_close(got_grad, level.grad, rtol=1e-4, atol=1e-5)


def test_compiled_matmul_resize_takes_its_matrix_as_a_constant():
    """A compiled scorer resizes its input with ``use_matmul=True`` on CUDA: the matrix must be a
    constant of the graph, not rebuilt (identity, interpolate, host-to-device copy) per call."""
    seen: list[str] = []

    def backend(gm, example_inputs):
        seen.extend(str(node.target) for node in gm.graph.nodes if node.op == "call_function")
        return gm.forward

    torch._dynamo.reset()
    x = torch.randn(1, 3, 10, 10)
    compiled = torch.compile(lambda t: resize(t, 20, use_matmul=True), backend=backend)
    torch.testing.assert_close(compiled(x), resize(x, 20, use_matmul=True))
    assert seen and all("matmul" in op or "getattr" in op for op in seen), seen
    torch._dynamo.reset()
