"""Choose the decline threshold that minimises expected cost on held-out PDs, and the decision
policy a bundle carries around it.

Light on purpose (numpy, the bundle's policy and the settings only): deploy/demo_bundle.py
builds its policy here in the serving environment, which has no scikit-learn or LightGBM.
"""

from __future__ import annotations

import numpy as np

from bankrisk.bundle.policy import DecisionPolicy, ScoreScaling
from bankrisk.config import Settings


def cost_optimal_threshold(
    probabilities: np.ndarray,
    labels: np.ndarray,
    cost_missed_default: float,
    cost_declined_good: float,
) -> float:
    """The PD cut-off (decline at or above) with the lowest total cost on these rows.

    Cost = cost_missed_default x approved defaulters + cost_declined_good x declined goods.
    Candidate cut-offs are the observed PDs; for calibrated PDs the optimum sits near
    cost_declined_good / (cost_declined_good + cost_missed_default).
    """
    order = np.argsort(-probabilities, kind="stable")
    sorted_pd, sorted_y = probabilities[order], labels[order]
    # Declining the top k rows: goods declined = k - bads in top k; missed = all bads - those.
    bads_declined = np.concatenate([[0.0], np.cumsum(sorted_y)])
    goods_declined = np.arange(len(probabilities) + 1) - bads_declined
    cost = (
        cost_missed_default * (sorted_y.sum() - bads_declined) + cost_declined_good * goods_declined
    )
    # Only cut between distinct PDs, so a threshold declines all rows with equal PD alike.
    k = np.arange(len(probabilities) + 1)
    valid = (
        (k == 0)
        | (k == len(probabilities))
        | np.concatenate([[True], sorted_pd[:-1] > sorted_pd[1:], [True]])
    )
    best = int(np.argmin(np.where(valid, cost, np.inf)))
    if best == 0:
        return float(min(1.0 - 1e-9, sorted_pd[0] + 1e-9))
    return float(sorted_pd[best - 1])


def make_policy(settings: Settings, threshold: float) -> DecisionPolicy:
    """The decision policy at this decline `threshold`: review from `settings.review_fraction`
    of it, the settings' master scale and score scaling."""
    return DecisionPolicy(
        threshold=threshold,
        review_threshold=threshold * settings.review_fraction,
        grade_pd_upper_bounds=settings.grade_pd_upper_bounds,
        scaling=ScoreScaling(
            settings.score_base_points,
            settings.score_base_odds,
            settings.score_points_to_double_odds,
        ),
    )
