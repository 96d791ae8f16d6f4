"""Optimal-transport heterogeneity mining between physiological and behavioural tokens.

HeLo re-maps one token set onto the other with an optimal-transport plan, so that the model sees
how the two sets interact without forcing them into one space. POT's solvers handle one pair of
distributions per call and cost milliseconds per call through its torch backend, too slow for a
training batch or for the 2 ms budget of one live window. The solvers here are therefore batched,
differentiable torch versions of the same algorithms (entropic Sinkhorn, and entropic
Gromov-Wasserstein by projected gradient descent as in
``ot.gromov.entropic_gromov_wasserstein(..., loss_fun="square_loss")``); the tests check them
against POT.

Masked tokens carry zero mass: the plan has zero rows/columns for them, so an absent modality
neither receives nor sends transport.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helo_stream.models.attention import layer_norm, linear

__all__ = [
    "OTInteraction",
    "barycentric_weights",
    "cosine_cost",
    "entropic_gromov_wasserstein",
    "masked_uniform",
    "sinkhorn",
    "transport_plan",
]

Array = TypeVar("Array", Tensor, np.ndarray)

#: Smallest kernel entry. Keeps ``K @ v`` strictly positive (no 0/0) when ``cost / reg`` is huge.
_KERNEL_FLOOR = 1e-300
#: Iterations between two convergence checks; a check costs about as much as one iteration.
_CHECK_EVERY = 5


def _xp(x: Tensor | np.ndarray) -> Any:
    """The array namespace of ``x``: the solvers below run unchanged on torch or NumPy."""
    return np if isinstance(x, np.ndarray) else torch


def _matvec(matrix: Array, vector: Array) -> Array:
    """Batched ``matrix @ vector`` for ``(B, N, M) @ (B, M, 1)``.

    NumPy's ``matmul`` is the cheapest call for one tiny matrix; in torch, for a training batch
    under autograd, a broadcast multiply-and-sum is about twice as fast as ``bmm``.
    """
    if isinstance(matrix, np.ndarray):
        return matrix @ vector
    return (matrix * vector.transpose(1, 2)).sum(2, keepdim=True)


def cosine_cost(x: Array, y: Array) -> Array:
    """Batched cosine distance ``1 - cos(x_i, y_j)``: ``(B, N, d), (B, M, d) -> (B, N, M)``."""
    xp = _xp(x)
    x = x / xp.clip(xp.sqrt((x * x).sum(-1)), 1e-12, None)[..., None]
    y = y / xp.clip(xp.sqrt((y * y).sum(-1)), 1e-12, None)[..., None]
    return 1.0 - x @ y.swapaxes(1, 2)


def masked_uniform(valid: Array) -> Array:
    """Uniform weights over the valid tokens of each sample (``valid`` as 0/1 floats).

    A sample with no valid token gets uniform weights over all tokens instead, so the solvers
    stay finite; its plan is meaningless and callers must ignore it (it has no valid token).
    """
    xp = _xp(valid)
    weights = xp.where(valid.any(1)[:, None] > 0, valid, xp.ones_like(valid))
    return weights / weights.sum(1)[:, None]


def sinkhorn(
    a: Array, b: Array, cost: Array, *, reg: float, n_iters: int, tol: float = 0.0
) -> Array:
    """Entropic optimal-transport plans for a batch, by Sinkhorn-Knopp scaling.

    Solves ``min_T <T, cost> - reg * H(T)`` s.t. ``T 1 = a``, ``T^T 1 = b`` for each sample, like
    ``ot.sinkhorn(a, b, cost, reg)``. The kernel's rows are shifted to a maximum of 1 (a per-row
    cost shift leaves the plan unchanged), which, in float64, keeps the plain (non-log) iteration
    stable for ``cost / reg`` up to several hundred at a third of the cost of log-domain updates.
    Runs on torch tensors (autograd flows through the unrolled iterations) or NumPy arrays.

    Parameters
    ----------
    a, b
        ``(B, N)`` and ``(B, M)`` non-negative marginals, each summing to 1 (use float64).
    cost
        ``(B, N, M)`` cost matrices (use float64).
    reg
        Entropic regularisation (> 0).
    n_iters
        Maximum number of scaling iterations.
    tol
        Stop early once the L1 error of the row marginals is below ``tol`` for every sample
        (checked every few iterations; 0 runs all ``n_iters``). Deterministic; the iteration
        count is shared by the batch, so a sample's plan may differ at the ``tol`` level
        between batch compositions (never by more than convergence to ``tol`` allows).

    Returns
    -------
    Array
        ``(B, N, M)`` plans; column sums equal ``b`` exactly, row sums ``a`` up to ``tol``.
    """
    xp = _xp(cost)
    a = a[..., None]
    b = b[..., None]
    kernel = xp.clip(xp.exp((cost - xp.amin(cost, 2)[..., None]) / -reg), _KERNEL_FLOOR, None)
    kernel_t = kernel.swapaxes(1, 2)
    v = xp.ones_like(b)
    u = a
    for it in range(1, n_iters + 1):
        u = a / _matvec(kernel, v)
        v = b / _matvec(kernel_t, u)
        if tol > 0.0 and it % _CHECK_EVERY == 0 and it < n_iters:
            error = abs(u * _matvec(kernel, v) - a).sum(1).max()
            if float(error.detach() if isinstance(error, Tensor) else error) < tol:
                break
    return u * kernel * v.swapaxes(1, 2)


def entropic_gromov_wasserstein(
    c1: Array,
    c2: Array,
    a: Array,
    b: Array,
    *,
    reg: float,
    n_outer: int,
    n_iters: int,
    tol: float = 0.0,
) -> Array:
    """Entropic Gromov-Wasserstein plans (square loss) for a batch of symmetric cost pairs.

    Projected gradient descent as in ``ot.gromov.entropic_gromov_wasserstein(C1, C2, p, q,
    "square_loss", epsilon=reg, solver="PGD")``: start from ``a b^T``, then ``n_outer`` times set
    the linearised cost ``2 (constC - 2 C1 T C2^T)`` and solve it with :func:`sinkhorn`. GW only
    compares distances *within* each set, so the two token sets need not share a space.

    Parameters
    ----------
    c1, c2
        ``(B, N, N)`` and ``(B, M, M)`` symmetric intra-set cost matrices.
    a, b
        ``(B, N)`` and ``(B, M)`` marginals.
    reg, n_iters, tol
        Passed to :func:`sinkhorn` for each inner problem.
    n_outer
        Number of outer (linearisation) steps.
    """
    const = ((c1 * c1) @ a[..., None]) + ((c2 * c2) @ b[..., None]).swapaxes(1, 2)
    plan = a[..., None] * b[:, None, :]
    for _ in range(n_outer):
        linearised = 2.0 * (const - 2.0 * (c1 @ plan @ c2.swapaxes(1, 2)))
        plan = sinkhorn(a, b, linearised, reg=reg, n_iters=n_iters, tol=tol)
    return plan


def _float64_inputs(
    phys: Tensor, phys_valid: Tensor | None, beh: Tensor, beh_valid: Tensor | None
) -> tuple[Any, Any, Any, Any]:
    """The solver inputs in float64: NumPy arrays when nothing needs a gradient, else tensors.

    A live window's plan takes a few hundred tiny array operations, and NumPy's per-call
    overhead is a fraction of torch's; both namespaces run the same code (see the tests).
    A validity of None means all tokens are valid.
    """
    differentiable = torch.is_grad_enabled() and (phys.requires_grad or beh.requires_grad)
    if not differentiable and phys.device.type == "cpu":
        x, y = (t.detach().numpy().astype(np.float64) for t in (phys, beh))
        x_valid, y_valid = (
            np.ones(t.shape[:2]) if v is None else v.numpy().astype(np.float64)
            for t, v in ((phys, phys_valid), (beh, beh_valid))
        )
        return x, x_valid, y, y_valid
    x, y = (t.to(torch.float64) for t in (phys, beh))
    x_valid, y_valid = (
        t.new_ones(t.shape[:2], dtype=torch.float64) if v is None else v.to(torch.float64)
        for t, v in ((phys, phys_valid), (beh, beh_valid))
    )
    return x, x_valid, y, y_valid


def _solve(
    x: Array,
    x_valid: Array,
    y: Array,
    y_valid: Array,
    *,
    method: Literal["sinkhorn", "gromov"],
    reg: float,
    n_iters: int,
    tol: float,
    gw_outer_iters: int,
) -> tuple[Array, Array, Array]:
    a = masked_uniform(x_valid)
    b = masked_uniform(y_valid)
    if method == "sinkhorn":
        plan = sinkhorn(a, b, cosine_cost(x, y), reg=reg, n_iters=n_iters, tol=tol)
    else:
        plan = entropic_gromov_wasserstein(
            cosine_cost(x, x),
            cosine_cost(y, y),
            a,
            b,
            reg=reg,
            n_outer=gw_outer_iters,
            n_iters=n_iters,
            tol=tol,
        )
    return plan, a, b


def transport_plan(
    phys: Tensor, phys_valid: Tensor | None, beh: Tensor, beh_valid: Tensor | None, **solver: Any
) -> tuple[Tensor, Tensor, Tensor]:
    """Float64 plans ``(B, Np, Nb)`` between masked token sets, with their marginals.

    Parameters
    ----------
    phys, beh
        ``(B, Np, d)`` and ``(B, Nb, d)`` token sets.
    phys_valid, beh_valid
        ``(B, Np)`` and ``(B, Nb)`` bool; invalid tokens get zero mass (None: all valid).
    **solver
        ``method``, ``reg``, ``n_iters``, ``tol``, ``gw_outer_iters`` (see :class:`OTInteraction`).

    Returns
    -------
    tuple
        ``plan``, ``a`` ``(B, Np)`` and ``b`` ``(B, Nb)`` (uniform over valid tokens).
    """
    out = _solve(*_float64_inputs(phys, phys_valid, beh, beh_valid), **solver)
    return tuple(torch.from_numpy(t) if isinstance(t, np.ndarray) else t for t in out)


def barycentric_weights(
    phys: Tensor, phys_valid: Tensor | None, beh: Tensor, beh_valid: Tensor | None, **solver: Any
) -> Tensor:
    """Row-normalised plans ``T_ij / a_i`` ``(B, Np, Nb)``, in the tokens' dtype.

    ``weights @ beh`` maps the behavioural tokens onto the physiological ones (the barycentric
    projection). Rows of masked physiological tokens, and every row of a sample without a valid
    behavioural token, are zero.
    """
    x, x_valid, y, y_valid = _float64_inputs(phys, phys_valid, beh, beh_valid)
    plan, a, _ = _solve(x, x_valid, y, y_valid, **solver)
    xp = _xp(plan)
    has_beh = (y_valid.sum(1) > 0)[:, None, None]
    weights = plan / xp.clip(a, 1e-12, None)[..., None] * has_beh
    if isinstance(weights, np.ndarray):
        return torch.from_numpy(weights.astype(np.float32)).to(phys.dtype)
    return weights.to(phys.dtype)


class OTInteraction(nn.Module):
    """Map behavioural tokens onto the physiological ones through a transport plan.

    Each physiological token ``i`` receives the barycentre of the behavioural tokens it is
    transported to, ``sum_j T_ij b_j / a_i``, projected and added residually. Both sets survive
    unchanged in the model (the behavioural set is kept beside this output), so their
    differences are kept while the plan models their interaction.

    Parameters
    ----------
    d_model
        Token width.
    method
        ``"sinkhorn"``: entropic OT on the cross-set cosine cost. ``"gromov"``: entropic
        Gromov-Wasserstein on the intra-set cosine costs.
    reg, n_iters, tol, gw_outer_iters
        Solver settings (see :func:`sinkhorn` and :func:`entropic_gromov_wasserstein`).
    dropout
        Dropout on the residual update (training only).
    """

    def __init__(
        self,
        *,
        d_model: int,
        method: Literal["sinkhorn", "gromov"],
        reg: float,
        n_iters: int,
        tol: float,
        gw_outer_iters: int,
        dropout: float,
    ) -> None:
        super().__init__()
        if method not in ("sinkhorn", "gromov"):
            raise ValueError(f"unknown OT method {method!r}; use 'sinkhorn' or 'gromov'")
        self.method = method
        self.reg = reg
        self.n_iters = n_iters
        self.tol = tol
        self.gw_outer_iters = gw_outer_iters
        self.proj = nn.Linear(d_model, d_model, bias=False)
        self.dropout = dropout
        self.norm = nn.LayerNorm(d_model)

    def forward(
        self, phys: Tensor, phys_valid: Tensor | None, beh: Tensor, beh_valid: Tensor | None
    ) -> Tensor:
        """Physiological tokens ``(B, Np, d)`` enriched with their transported behavioural content.

        Validities are ``(B, N)`` bool or None (all valid). Samples without any valid
        behavioural token get no update (just the LayerNorm).
        """
        mapping = barycentric_weights(
            phys,
            phys_valid,
            beh,
            beh_valid,
            method=self.method,
            reg=self.reg,
            n_iters=self.n_iters,
            tol=self.tol,
            gw_outer_iters=self.gw_outer_iters,
        )
        update = linear(self.proj, mapping @ beh)
        if self.training and self.dropout > 0.0:
            update = F.dropout(update, self.dropout)
        return layer_norm(self.norm, phys + update)
