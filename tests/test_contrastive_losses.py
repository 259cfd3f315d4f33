"""Contrastive losses (ssl_core.losses.contrastive) against values written out by hand."""
import math

import pytest
import torch

from ssl_core.losses import byol_loss, info_nce, nt_xent, simsiam_loss

# unit vectors with easy cosines: a1.a2 = 0.6, a1.b2 = 0.8, b1.a2 = 0.8, b1.b2 = -0.6, a1.b1 = a2.b2 = 0
A1, B1, A2, B2 = (1.0, 0.0), (0.0, 1.0), (0.6, 0.8), (0.8, -0.6)


def test_nt_xent_matches_the_softmax_written_out():
    t = 0.5
    e = lambda cos: math.exp(cos / t)  # noqa: E731
    # row i: -s(i, positive) + log sum over the 3 other views
    rows = [
        -0.6 / t + math.log(e(0.0) + e(0.6) + e(0.8)),   # a1: views b1, a2 (positive), b2
        0.6 / t + math.log(e(0.0) + e(0.8) + e(-0.6)),   # b1: views a1, a2, b2 (positive)
        -0.6 / t + math.log(e(0.6) + e(0.8) + e(0.0)),   # a2: views a1 (positive), b1, b2
        0.6 / t + math.log(e(0.8) + e(-0.6) + e(0.0)),   # b2: views a1, b1 (positive), a2
    ]
    loss = nt_xent(torch.tensor([A1, B1]), torch.tensor([A2, B2]), temperature=t)
    assert loss.item() == pytest.approx(sum(rows) / 4, rel=1e-6)


def test_nt_xent_is_symmetric_and_scale_invariant():
    torch.manual_seed(0)
    z1, z2 = torch.randn(5, 8), torch.randn(5, 8)
    assert nt_xent(z1, z2, 0.2).item() == pytest.approx(nt_xent(z2, z1, 0.2).item(), rel=1e-6)
    assert nt_xent(3 * z1, 0.5 * z2, 0.2).item() == pytest.approx(nt_xent(z1, z2, 0.2).item(), rel=1e-5)


def test_nt_xent_is_lowest_for_aligned_distinct_views():
    z = torch.eye(4)
    aligned = nt_xent(z, z, 0.1).item()
    # every view: positive cos 1, the 6 other views cos 0 -> -10 + log(e^10 + 6 e^0)
    assert aligned == pytest.approx(-10 + math.log(math.exp(10) + 6), abs=1e-6)
    assert aligned < nt_xent(z, z.roll(1, dims=0), 0.1).item()


def test_info_nce_matches_the_softmax_written_out():
    t = 0.1
    q = torch.tensor([A1, B1])
    k = torch.tensor([A2, B2])
    queue = torch.tensor([B1, (-1.0, 0.0)])
    # q1 = a1: positive 0.6, negatives a1.b1 = 0, a1.(-a1) = -1; q2 = b1: positive -0.6, negatives 1, 0
    row1 = -0.6 / t + math.log(math.exp(0.6 / t) + math.exp(0.0) + math.exp(-1 / t))
    row2 = 0.6 / t + math.log(math.exp(-0.6 / t) + math.exp(1 / t) + math.exp(0.0))
    assert info_nce(q, k, queue, t).item() == pytest.approx((row1 + row2) / 2, rel=1e-6)


def test_info_nce_sends_no_gradient_to_keys_or_queue():
    q = torch.randn(3, 4, requires_grad=True)
    k = torch.randn(3, 4, requires_grad=True)
    queue = torch.randn(6, 4, requires_grad=True)
    info_nce(q, k, queue, 0.07).backward()
    assert q.grad is not None and k.grad is None and queue.grad is None


def test_byol_loss_is_two_minus_two_cosine():
    p = torch.tensor([A1, (0.0, 2.0)])
    z = torch.tensor([A2, (0.0, -1.0)])
    assert byol_loss(p, z).item() == pytest.approx(((2 - 2 * 0.6) + (2 - 2 * -1.0)) / 2, rel=1e-6)
    x = torch.randn(4, 6)
    assert byol_loss(x, 2 * x).item() == pytest.approx(0.0, abs=1e-6)


def test_simsiam_loss_is_negative_cosine_with_stop_gradient():
    p = torch.tensor([A1, B1], requires_grad=True)
    z = torch.tensor([A2, B2], requires_grad=True)
    loss = simsiam_loss(p, z)
    assert loss.item() == pytest.approx(-(0.6 + -0.6) / 2, abs=1e-7)
    loss.backward()
    assert p.grad is not None and z.grad is None
    x = torch.randn(4, 6)
    assert simsiam_loss(x, x).item() == pytest.approx(-1.0, rel=1e-6)


@pytest.mark.parametrize("call, name", [
    (lambda: nt_xent(torch.randn(2, 3), torch.randn(2, 4), 0.1), "z2"),
    (lambda: nt_xent(torch.randn(3), torch.randn(3), 0.1), "z1"),
    (lambda: nt_xent(torch.randn(2, 3), torch.randn(2, 3), 0.0), "temperature"),
    (lambda: info_nce(torch.randn(2, 3), torch.randn(2, 3), torch.randn(5, 4), 0.1), "queue"),
    (lambda: info_nce(torch.randn(2, 3), torch.randn(3, 3), torch.randn(5, 3), 0.1), "k"),
    (lambda: info_nce(torch.randn(2, 3), torch.randn(2, 3), torch.randn(5, 3), -1.0), "temperature"),
    (lambda: byol_loss(torch.randn(2, 3), torch.randn(2, 2)), "z"),
    (lambda: simsiam_loss(torch.randn(2, 3), torch.randn(1, 3)), "z"),
])
def test_invalid_arguments_name_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        call()
