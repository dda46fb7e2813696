"""Resampling as matrix products: the same values and gradients as F.interpolate, and constant under compile."""

import pytest
import torch

from dasag.image.resize import resize


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
