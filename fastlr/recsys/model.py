"""Matrix factorisation with item biases, trained by BPR: vectorized forward and backward in NumPy.

The score of item ``i`` for user ``u`` is ``s(u, i) = p_u . q_i + b_i``. Bayesian Personalized Ranking
(Rendle et al. 2009) takes triples ``(u, i, j)`` -- ``i`` an item the user interacted with, ``j`` a sampled
negative -- and minimises, summed over a mini-batch ``B``,

.. math::

    L = \\sum_{(u,i,j) \\in B} -\\log \\sigma(x_{uij})
        + \\frac{\\lambda}{2} (\\|p_u\\|^2 + \\|q_i\\|^2 + \\|q_j\\|^2 + b_i^2 + b_j^2),
    \\qquad x_{uij} = s(u, i) - s(u, j).

With ``g = -\\sigma(-x)``, the gradients are
``dL/dp_u = g (q_i - q_j) + λ p_u``, ``dL/dq_i = g p_u + λ q_i``, ``dL/dq_j = -g p_u + λ q_j``,
``dL/db_i = g + λ b_i`` and ``dL/db_j = -g + λ b_j`` -- non-zero only on the rows in the batch, so they are
handed to the optimizer as row gradients (repeated rows are summed by the optimizer). The regularisation
is part of the loss (applied to the rows a batch touches, as in the original BPR), not an optimizer's weight
decay, so every optimizer minimises the same objective.

References
----------
S. Rendle, C. Freudenthaler, Z. Gantner and L. Schmidt-Thieme. 2009. BPR: Bayesian Personalized Ranking from
Implicit Feedback. UAI.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

__all__ = ["MatrixFactorization", "RowGradients"]


@dataclass(frozen=True)
class RowGradients:
    """Row gradients of one BPR mini-batch, one ``(indices, values)`` pair per parameter.

    ``indices`` may repeat (a user or item occurring twice in the batch); the optimizer sums repeats.
    """

    user: Tuple[np.ndarray, np.ndarray]
    item: Tuple[np.ndarray, np.ndarray]
    item_bias: Tuple[np.ndarray, np.ndarray]

    def as_list(self) -> List[Tuple[np.ndarray, np.ndarray]]:
        """In the order of :attr:`MatrixFactorization.params`."""
        return [self.user, self.item, self.item_bias]


class MatrixFactorization:
    """User and item embeddings plus an item bias, for implicit-feedback ranking.

    Parameters
    ----------
    n_users, n_items : int
    dim : int, default 64
        Embedding dimension.
    init_std : float, default 0.1
        Embeddings start as ``N(0, init_std**2)``; biases start at zero.
    dtype : {np.float32, np.float64}, default np.float32
    seed : int, default 0

    Attributes
    ----------
    user_emb : ndarray, shape (n_users, dim)
    item_emb : ndarray, shape (n_items, dim)
    item_bias : ndarray, shape (n_items, 1)
        2-D so that it takes row gradients like the embedding tables.

    Examples
    --------
    >>> m = MatrixFactorization(3, 4, dim=2, seed=0)
    >>> m.scores(np.array([0, 2])).shape
    (2, 4)
    """

    def __init__(self, n_users: int, n_items: int, dim: int = 64, init_std: float = 0.1,
                 dtype: type = np.float32, seed: int = 0) -> None:
        if n_users < 1 or n_items < 1 or dim < 1:
            raise ValueError(f"n_users, n_items and dim must be >= 1, got {n_users}, {n_items}, {dim}")
        if init_std < 0:
            raise ValueError(f"init_std must be >= 0, got {init_std}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        rng = np.random.default_rng(seed)
        self.dtype = dtype
        self.user_emb = (rng.standard_normal((n_users, dim), dtype=np.float32) * init_std).astype(dtype)
        self.item_emb = (rng.standard_normal((n_items, dim), dtype=np.float32) * init_std).astype(dtype)
        self.item_bias = np.zeros((n_items, 1), dtype=dtype)

    @property
    def params(self) -> List[np.ndarray]:
        """``[user_emb, item_emb, item_bias]``: the arrays an optimizer updates in place."""
        return [self.user_emb, self.item_emb, self.item_bias]

    @property
    def n_users(self) -> int:
        return self.user_emb.shape[0]

    @property
    def n_items(self) -> int:
        return self.item_emb.shape[0]

    def scores(self, users: np.ndarray) -> np.ndarray:
        """Scores of every item for the given users, shape ``(len(users), n_items)``."""
        s = self.user_emb[users] @ self.item_emb.T
        s += self.item_bias[:, 0]
        return s

    def bpr_loss(self, users: np.ndarray, pos: np.ndarray, neg: np.ndarray, reg: float = 0.0) -> float:
        """The BPR loss of a batch (sum over triples, regularisation included), in float64."""
        p, qi, qj = self.user_emb[users], self.item_emb[pos], self.item_emb[neg]
        bi, bj = self.item_bias[pos, 0], self.item_bias[neg, 0]
        x = np.einsum("bd,bd->b", p, qi - qj, dtype=np.float64) + (bi - bj)
        penalty = (np.sum(p.astype(np.float64) ** 2) + np.sum(qi.astype(np.float64) ** 2)
                   + np.sum(qj.astype(np.float64) ** 2) + np.sum(bi.astype(np.float64) ** 2)
                   + np.sum(bj.astype(np.float64) ** 2))
        return float(np.sum(np.logaddexp(0.0, -x)) + 0.5 * reg * penalty)

    def bpr_backward(self, users: np.ndarray, pos: np.ndarray, neg: np.ndarray,
                     reg: float = 0.0) -> Tuple[float, RowGradients]:
        """Forward and backward pass of BPR on one batch of triples.

        Parameters
        ----------
        users, pos, neg : ndarray of int, shape (B,)
            The triples ``(u, i, j)``.
        reg : float, default 0
            L2 coefficient ``λ`` on the rows in the batch.

        Returns
        -------
        loss : float
            The BPR log-loss of the batch (without the regularisation term, which is not needed for
            training and would cost another pass).
        grads : RowGradients
            Row gradients in the parameters' dtype: users ``(B, dim)``, items ``(2B, dim)`` for
            ``concat(pos, neg)``, item biases ``(2B, 1)``.
        """
        n = len(users)
        # np.take is much faster than fancy indexing for row gathers
        p = np.take(self.user_emb, users, axis=0)
        qi = np.take(self.item_emb, pos, axis=0)
        qj = np.take(self.item_emb, neg, axis=0)
        bias = self.item_bias[:, 0]
        grad_user = qi - qj  # the difference q_i - q_j, scaled in place below
        x = np.einsum("bd,bd->b", p, grad_user)
        x += np.take(bias, pos)
        x -= np.take(bias, neg)
        # log(1 + exp(-x)) and sigma(-x) = exp(-log(1 + exp(x))), both without overflow
        loss = float(np.sum(np.logaddexp(0.0, -x), dtype=np.float64))
        g = np.exp(-np.logaddexp(0.0, x)).astype(self.dtype, copy=False)
        np.negative(g, out=g)
        g_col = g[:, None]
        grad_user *= g_col
        grad_item = np.empty((2 * n, p.shape[1]), dtype=self.dtype)
        np.multiply(p, g_col, out=grad_item[:n])
        np.negative(grad_item[:n], out=grad_item[n:])
        grad_bias = np.empty((2 * n, 1), dtype=self.dtype)
        grad_bias[:n, 0] = g
        grad_bias[n:, 0] = -g
        items = np.concatenate((pos, neg))
        if reg:
            lam = self.dtype.type(reg)
            p *= lam
            grad_user += p
            qi *= lam
            grad_item[:n] += qi
            qj *= lam
            grad_item[n:] += qj
            grad_bias += lam * np.take(self.item_bias, items, axis=0)
        return loss, RowGradients(user=(users, grad_user), item=(items, grad_item),
                                  item_bias=(items, grad_bias))

    def copy_params(self) -> List[np.ndarray]:
        """Copies of the parameters (for keeping the best epoch)."""
        return [a.copy() for a in self.params]

    def load_params(self, arrays: List[np.ndarray]) -> None:
        """Overwrite the parameters in place (the optimizer keeps referencing the same arrays)."""
        for dst, src in zip(self.params, arrays):
            dst[...] = src
