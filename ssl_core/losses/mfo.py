"""The losses of MFO (multi-level feature optimisation), spec ``mfo.md``.

Shapes: ``B`` videos, ``D`` embedding size, ``K`` prototypes, ``T`` time steps. Embeddings
passed as "normalised" are L2-normalised along ``D``. ``impl`` is ``"official"`` (what the
authors' public code does) or ``"paper"`` (what the text says); each function says where the
two differ.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

IMPLS = ("official", "paper")
GRAPH_TARGETS = ("none", "onehot", "instance", "semantic", "combined")


def _check_impl(impl: str) -> None:
    if impl not in IMPLS:
        raise ValueError(f"impl: must be one of {IMPLS}, got {impl!r}")


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3, exponentiate: bool = True) -> torch.Tensor:
    """Sinkhorn-Knopp equipartition of ``(N, K)`` scores into soft assignments ``(N, K)``.

    Starts from ``exp(scores / epsilon)`` (``exponentiate``) or from ``scores`` themselves
    (non-negative, e.g. distributions), then alternates: every prototype (column) gets total
    mass ``1 / K``, every sample (row) ``1 / N``; returns the rows rescaled to sum to 1. After
    the last (row) step the rows sum to 1 exactly and the columns to ``N / K`` approximately.
    """
    if scores.ndim != 2:
        raise ValueError(f"scores: must be (N, K), got {tuple(scores.shape)}")
    if epsilon <= 0 or iterations < 1:
        raise ValueError(f"epsilon must be > 0 and iterations >= 1, got {epsilon}, {iterations}")
    scores = scores.double()
    q = torch.exp((scores - scores.max()) / epsilon) if exponentiate else scores.clamp_min(0)
    q = q / q.sum()
    rows, columns = q.shape
    for _ in range(iterations):
        q = q / q.sum(dim=0, keepdim=True).clamp_min(1e-30) / columns
        q = q / q.sum(dim=1, keepdim=True).clamp_min(1e-30) / rows
    return (q * rows).float()


def swapped_prediction(logits_a: torch.Tensor, logits_b: torch.Tensor, q_a: torch.Tensor, q_b: torch.Tensor,
                       temperature: float = 0.1) -> torch.Tensor:
    """``-0.5 * (q_a . log p_b + q_b . log p_a)`` averaged over the batch, ``p = softmax(logits / t)``;
    logits and targets ``(B, K)``."""
    log_p_a = F.log_softmax(logits_a / temperature, dim=1)
    log_p_b = F.log_softmax(logits_b / temperature, dim=1)
    return -0.5 * ((q_a * log_p_b).sum(dim=1) + (q_b * log_p_a).sum(dim=1)).mean()


def instance_info_nce(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float = 0.07,
                      extra_negatives: torch.Tensor | None = None) -> torch.Tensor:
    """L_ins: for each of the ``2B`` normalised embeddings ``[z_a; z_b]`` ``(B, D)`` each, the
    positive is the other clip of its video; negatives are both clips of every other video, and
    ``extra_negatives`` ``(M, D)`` when given (input-level temporal augmentation)."""
    z = torch.cat([z_a, z_b])
    size = len(z_a)
    logits = z @ z.t() / temperature
    logits = logits.masked_fill(torch.eye(2 * size, dtype=torch.bool, device=z.device), float("-inf"))
    if extra_negatives is not None:
        logits = torch.cat([logits, z @ extra_negatives.t() / temperature], dim=1)
    targets = torch.cat([torch.arange(size, 2 * size), torch.arange(size)]).to(z.device)
    return F.cross_entropy(logits, targets)


def _similarity_kernel(x: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    return torch.exp(x @ y.t() / temperature)


@torch.no_grad()
def instance_graph(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float = 0.07, eta: float = 0.05,
                   impl: str = "official") -> torch.Tensor:
    """E_ins ``(B, B)`` from the high-level ``ins`` embeddings (normalised, ``(B, D)`` per view).

    official: ``softmax(z_a z_b^T / t)`` row-wise; entries below ``eta`` are zeroed and the
    diagonal is kept. paper (Eqs. 6 and 8): ``W(i, i) = h(z_a_i, z_b_i)``, ``W(i, j)`` = the mean
    of ``h`` over the four view pairs of ``i`` and ``j``, ``h = exp(cos / t)``; ``W`` is kept where
    ``W(i, j) / sum_j W(i, j) >= eta``. Rows are not normalised here (see :func:`graph_target`).
    """
    _check_impl(impl)
    eye = torch.eye(len(z_a), dtype=torch.bool, device=z_a.device)
    if impl == "official":
        weights = F.softmax(z_a @ z_b.t() / temperature, dim=1)
        shares = weights
    else:
        pairs = [_similarity_kernel(x, y, temperature) for x in (z_a, z_b) for y in (z_a, z_b)]
        weights = torch.where(eye, _similarity_kernel(z_a, z_b, temperature), sum(pairs) / 4)
        shares = weights / weights.sum(dim=1, keepdim=True)
    return torch.where((shares >= eta) | eye, weights, torch.zeros_like(weights))


@torch.no_grad()
def semantic_graph(q_a: torch.Tensor, q_b: torch.Tensor) -> torch.Tensor:
    """E_sem ``(B, B)``: 1 where ``argmax(q_a + q_b)`` of the two videos agree (Eq. 7)."""
    labels = (q_a + q_b).argmax(dim=1)
    return (labels[:, None] == labels[None, :]).float()


@torch.no_grad()
def graph_target(kind: str, size: int, instance: torch.Tensor | None = None, semantic: torch.Tensor | None = None,
                 device=None) -> torch.Tensor:
    """The row-normalised soft target ``(B, B)`` of L_mul for target ``kind`` (Table 2):
    ``onehot`` (the identity: InfoNCE), ``instance``, ``semantic``, ``combined`` (Eq. 9: their
    product); ``instance`` and ``semantic`` are the graphs the kind needs."""
    if kind == "onehot":
        return torch.eye(size, device=device)
    if kind == "instance":
        target = instance
    elif kind == "semantic":
        target = semantic
    elif kind == "combined":
        target = instance * semantic
    else:
        raise ValueError(f"kind: must be one of {GRAPH_TARGETS[1:]}, got {kind!r}")
    return target / target.sum(dim=1, keepdim=True)


def graph_loss(target: torch.Tensor, z_a: torch.Tensor, z_b: torch.Tensor, temperature: float = 0.07,
               impl: str = "official") -> torch.Tensor:
    """L_mul at one level: cross-entropy of ``target`` ``(B, B)`` against ``softmax(z_a z_b^T / t)``
    (normalised ``(B, D)``), one direction. official: ``.mean()`` over all ``(i, j)`` (the
    cross-entropy divided by ``B``); paper: the mean over rows of each row's cross-entropy."""
    _check_impl(impl)
    terms = -target * F.log_softmax(z_a @ z_b.t() / temperature, dim=1)
    return terms.mean() if impl == "official" else terms.sum(dim=1).mean()


def retrieval_loss(clips: torch.Tensor, long: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """L_ret (timestamp retrieval): ``clips`` ``(B, D, T)`` (clip A's then clip B's steps, aligned
    with the long view) and ``long`` ``(B, D, T)``; per video the logits are cosine / t between
    the ``T`` positions; cross-entropy both ways (clip step -> long step and back), averaged."""
    c = F.normalize(clips, dim=1)
    g = F.normalize(long, dim=1)
    logits = torch.einsum("bdi,bdj->bij", c, g) / temperature
    steps = logits.shape[-1]
    targets = torch.arange(steps, device=logits.device).repeat(len(logits))
    forward = F.cross_entropy(logits.reshape(-1, steps), targets)
    backward = F.cross_entropy(logits.transpose(1, 2).reshape(-1, steps), targets)
    return (forward + backward) / 2


def temporal_views(x: torch.Tensor, impl: str, generator: torch.Generator | None = None, dim: int = -1) -> list[torch.Tensor]:
    """The temporally augmented versions of ``x`` (time along ``dim``) used as negatives:
    official: time reversal; paper: reversal and a shuffle (a random permutation of the steps
    that is not the identity, when there are 2 or more)."""
    _check_impl(impl)
    views = [torch.flip(x, dims=(dim,))]
    if impl == "paper":
        steps = x.shape[dim]
        order = torch.arange(steps)
        if steps > 1:
            while torch.equal(order, torch.arange(steps)):
                order = torch.randperm(steps, generator=generator)
        views.append(x.index_select(dim, order.to(x.device)))
    return views


def temporal_contrast_loss(a: torch.Tensor, b: torch.Tensor, augmented_a: torch.Tensor, augmented_b: torch.Tensor,
                           temperature: float = 0.07, impl: str = "official") -> torch.Tensor:
    """L_aug (feature-level temporal modelling) on clip embeddings ``a``, ``b`` ``(N, D)`` of the
    two clips of ``N`` videos and ``augmented_a``, ``augmented_b`` ``(N, A, D)``: the embeddings of
    the same clips' temporally augmented features (:func:`temporal_views` before the ME block).
    For each query clip the positive is the other clip of its video; the negatives are
    official (public code's ``motion_contrast``): both clips of every other video and the
    augmented versions of both clips of the query's video; paper (Eq. 11-12): the augmented
    versions of the query clip alone. Cosine / ``temperature``; the mean over the ``2N`` queries."""
    _check_impl(impl)
    n = len(a)
    if a.shape != b.shape or augmented_a.shape != augmented_b.shape or augmented_a.shape[::2] != a.shape:
        raise ValueError(f"a, b: (N, D) and augmented_a, augmented_b: (N, A, D), got {tuple(a.shape)}, {tuple(b.shape)}, "
                         f"{tuple(augmented_a.shape)}, {tuple(augmented_b.shape)}")
    queries = F.normalize(torch.cat([a, b]), dim=1)
    augmented = F.normalize(torch.cat([augmented_a, augmented_b]), dim=2)
    partner = (torch.arange(2 * n, device=a.device) + n) % (2 * n)
    positive = (queries * queries[partner]).sum(1, keepdim=True)
    own = torch.einsum("rd,rad->ra", queries, augmented)
    if impl == "paper":
        negatives = own
    else:
        video = torch.arange(2 * n, device=a.device) % n
        others = (queries @ queries.t()).masked_fill(video[:, None] == video[None, :], float("-inf"))
        negatives = torch.cat([others, own, torch.einsum("rd,rad->ra", queries, augmented[partner])], 1)
    logits = torch.cat([positive, negatives], 1) / temperature
    return F.cross_entropy(logits, torch.zeros(2 * n, dtype=torch.long, device=a.device))
