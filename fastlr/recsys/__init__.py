"""Recommender benchmark: BPR matrix factorisation on MovieLens-100k or synthetic data, trained with fastlr.

Run ``python -m fastlr.recsys`` for the optimizer and schedule comparison; see ``docs/recsys.md``.
Only fastlr's public API is used (``fastlr.<Optimizer>``, ``fastlr.RowGrad``, ``fastlr.schedules``,
``fastlr.reference``).
"""
from .data import Interactions, load_ratings_file, movielens_100k, synthetic
from .metrics import evaluate, ranking_metrics, top_k
from .model import MatrixFactorization
from .split import Split, temporal_split, to_csr
from .train import TrainConfig, TrainResult, popularity_baseline, train

__all__ = [
    "Interactions", "load_ratings_file", "movielens_100k", "synthetic",
    "evaluate", "ranking_metrics", "top_k", "MatrixFactorization",
    "Split", "temporal_split", "to_csr",
    "TrainConfig", "TrainResult", "popularity_baseline", "train",
]
