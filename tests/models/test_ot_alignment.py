"""Batched OT solvers against POT, marginals, masking, and the torch/NumPy equivalence."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from helo_stream.models.ot_alignment import (
    OTInteraction,
    barycentric_weights,
    cosine_cost,
    entropic_gromov_wasserstein,
    masked_uniform,
    sinkhorn,
    transport_plan,
)

SOLVER = {"reg": 0.1, "n_iters": 50, "tol": 1e-3, "gw_outer_iters": 5}


def tokens(batch: int, n: int, seed: int, d: int = 8) -> torch.Tensor:
    return torch.randn(batch, n, d, generator=torch.Generator().manual_seed(seed))


def test_sinkhorn_matches_pot():
    x, y = tokens(3, 6, 0), tokens(3, 4, 1)
    cost = cosine_cost(x, y).double()
    a = torch.full((3, 6), 1 / 6, dtype=torch.float64)
    b = torch.tensor([[0.1, 0.2, 0.3, 0.4]] * 3, dtype=torch.float64)
    plans = sinkhorn(a, b, cost, reg=0.1, n_iters=2000, tol=1e-12)
    for i in range(3):
        expected = ot.sinkhorn(
            a[i].numpy(), b[i].numpy(), cost[i].numpy(), 0.1, numItermax=2000, stopThr=1e-12
        )
        np.testing.assert_allclose(plans[i].numpy(), expected, atol=1e-8, rtol=1e-6)


def test_plan_marginals_and_masked_tokens():
    x, y = tokens(4, 5, 2), tokens(4, 3, 3)
    x_valid = torch.tensor([[1, 1, 1, 1, 1], [1, 0, 1, 0, 1], [1, 1, 1, 1, 1], [0] * 5]).bool()
    y_valid = torch.tensor([[1, 1, 1], [1, 1, 0], [0, 0, 0], [1, 1, 1]]).bool()
    plan, a, b = transport_plan(
        x, x_valid, y, y_valid, method="sinkhorn", **{**SOLVER, "n_iters": 1000, "tol": 1e-9}
    )
    for i in (0, 1):  # samples with mass on both sides
        torch.testing.assert_close(plan[i].sum(dim=1), a[i], atol=1e-7, rtol=0)
        torch.testing.assert_close(plan[i].sum(dim=0), b[i], atol=1e-10, rtol=0)
        assert plan[i][~x_valid[i]].abs().sum() == 0
        assert plan[i][:, ~y_valid[i]].abs().sum() == 0
    torch.testing.assert_close(a[1], torch.tensor([1 / 3, 0, 1 / 3, 0, 1 / 3], dtype=a.dtype))
    assert torch.isfinite(plan).all()  # even for samples with an empty side


def test_masked_uniform_all_invalid_falls_back_to_uniform():
    weights = masked_uniform(torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(weights, torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=torch.float64))


def test_gromov_matches_pot():
    x, y = tokens(2, 5, 4), tokens(2, 4, 5)
    c1, c2 = cosine_cost(x, x).double(), cosine_cost(y, y).double()
    a = torch.full((2, 5), 0.2, dtype=torch.float64)
    b = torch.full((2, 4), 0.25, dtype=torch.float64)
    plans = entropic_gromov_wasserstein(c1, c2, a, b, reg=0.1, n_outer=10, n_iters=3000, tol=1e-12)
    for i in range(2):
        expected = ot.gromov.entropic_gromov_wasserstein(
            c1[i], c2[i], a[i], b[i], "square_loss", epsilon=0.1, max_iter=10, tol=0.0,
            numItermax=3000, stopThr=1e-12,
        )  # fmt: skip
        torch.testing.assert_close(plans[i], expected, atol=1e-7, rtol=1e-5)
        torch.testing.assert_close(plans[i].sum(dim=1), a[i], atol=1e-8, rtol=0)


@pytest.mark.parametrize("method", ["sinkhorn", "gromov"])
def test_numpy_and_torch_paths_agree(method):
    x, y = tokens(3, 6, 6), tokens(3, 7, 7)
    x_valid = torch.rand(3, 6, generator=torch.Generator().manual_seed(0)) > 0.3
    y_valid = torch.ones(3, 7, dtype=torch.bool)
    with torch.no_grad():
        fast = barycentric_weights(x, x_valid, y, y_valid, method=method, **SOLVER)
    x.requires_grad_(True)
    slow = barycentric_weights(x, x_valid, y, y_valid, method=method, **SOLVER)
    assert slow.requires_grad and not fast.requires_grad
    torch.testing.assert_close(slow.detach(), fast, atol=1e-6, rtol=0)
    # The generic solvers give the same result on NumPy arrays and torch tensors.
    cost = cosine_cost(x.detach(), y).double()
    a = masked_uniform(x_valid.double())
    b = masked_uniform(y_valid.double())
    torch_plan = sinkhorn(a, b, cost, reg=0.1, n_iters=40, tol=1e-3)
    numpy_plan = sinkhorn(a.numpy(), b.numpy(), cost.numpy(), reg=0.1, n_iters=40, tol=1e-3)
    assert isinstance(numpy_plan, np.ndarray)
    np.testing.assert_allclose(torch_plan.numpy(), numpy_plan, atol=1e-12)


def test_barycentric_rows_sum_to_one_and_empty_behaviour_is_zero():
    x, y = tokens(2, 4, 8), tokens(2, 3, 9)
    x_valid = torch.tensor([[1, 1, 0, 1], [1, 1, 1, 1]]).bool()
    y_valid = torch.tensor([[1, 1, 1], [0, 0, 0]]).bool()
    with torch.no_grad():
        weights = barycentric_weights(x, x_valid, y, y_valid, method="sinkhorn", **SOLVER)
    assert weights.dtype == torch.float32
    torch.testing.assert_close(
        weights[0].sum(dim=1), torch.tensor([1.0, 1.0, 0.0, 1.0]), atol=1e-2, rtol=0
    )
    assert weights[1].abs().max() == 0


def test_gradient_flows_through_the_plan():
    module = OTInteraction(
        d_model=8, method="sinkhorn", reg=0.1, n_iters=20, tol=0.0, gw_outer_iters=3, dropout=0.0
    )
    x = tokens(2, 4, 10).requires_grad_(True)
    y = tokens(2, 3, 11)
    valid_x = torch.ones(2, 4, dtype=torch.bool)
    valid_y = torch.ones(2, 3, dtype=torch.bool)
    plan, _, _ = transport_plan(x, valid_x, y, valid_y, method="sinkhorn", **SOLVER)
    (plan * torch.arange(12.0, dtype=plan.dtype).view(1, 4, 3)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    out = module(x, valid_x, y, valid_y)
    assert out.shape == (2, 4, 8)
    out.sum().backward()
    assert module.proj.weight.grad.abs().sum() > 0


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="OT method"):
        OTInteraction(
            d_model=4, method="emd", reg=0.1, n_iters=5, tol=0, gw_outer_iters=1, dropout=0
        )
