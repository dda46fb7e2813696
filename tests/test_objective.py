import torch

from dasag.objective import Objective, Term, safe_arctanh, total_variation
from dasag.scorers.base import Scores
from dasag.schedules import Constant


def _scores(pos, neg, aes=None, bounded=True):
    return Scores(positive=torch.tensor(pos), negative=torch.tensor(neg), bounded=bounded, aesthetic=None if aes is None else torch.tensor(aes))


def test_arctanh_is_finite_at_and_beyond_one():
    x = torch.tensor([-1.5, -1.0, 0.0, 1.0, 1.5], requires_grad=True)
    y = safe_arctanh(x)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()


def test_prompt_term_and_arctanh_apply_only_to_bounded_scores():
    images = torch.zeros(1, 3, 4, 4)
    plain = Objective(tv_weight=0)(
        [(1.0, _scores([0.5, 0.5], [0.1, 0.1]))], images, num_images=1, step=0, total_steps=10
    )
    assert torch.allclose(plain.loss, torch.tensor([-0.4]))
    at = Objective(arctanh=True, tv_weight=0)([(1.0, _scores([1.0], [0.0]))], images, 1, 0, 10)
    assert torch.isfinite(at.loss).all() and at.loss.item() < -4
    unbounded = Objective(arctanh=True, tv_weight=0)([(1.0, _scores([-3.0], [0.0], bounded=False))], images, 1, 0, 10)
    assert unbounded.loss.item() == 3.0


def test_aesthetic_weight_schedule_and_reverse_switch():
    images = torch.zeros(1, 3, 4, 4)
    members = [(1.0, _scores([0.0], [0.0], aes=[5.0]))]
    forward = Objective(aesthetic_weight=Constant(2.0), tv_weight=0)(members, images, 1, 3, 10)
    reverse = Objective(aesthetic_weight=Constant(2.0), reverse_aesthetic=True, tv_weight=0)(members, images, 1, 3, 10)
    assert forward.loss.item() == -1.0 and reverse.loss.item() == 1.0
    assert forward.values["aesthetic"].item() == 5.0


def test_each_image_gets_its_own_loss():
    images = torch.zeros(2, 3, 4, 4)
    # two images, two copies each, image-major
    terms = Objective(tv_weight=0)([(1.0, _scores([0.2, 0.4, 0.9, 0.7], [0.0] * 4))], images, 2, 0, 5)
    assert torch.allclose(terms.loss, torch.tensor([-0.3, -0.8]))


def test_regularisers_and_extra_terms():
    images = torch.zeros(1, 3, 4, 4)
    images[..., 0, 0] = 1.0
    assert total_variation(images).item() == 2 * 3  # one pixel differs from two neighbours, 3 channels

    class Plus(Term):
        name = "plus"

        def __call__(self, members, images, num_images, step, total_steps):
            return torch.full((num_images,), float(step))

    obj = Objective(prompt_weight=0, tv_weight=1.0, l1_weight=0.5, terms=[Plus()])
    terms = obj([(1.0, _scores([0.0], [0.0]))], images, 1, 4, 10)
    assert terms.loss.item() == 6 + 0.5 * 3 + 4
    assert set(terms.values) >= {"tv", "l1", "plus"}
