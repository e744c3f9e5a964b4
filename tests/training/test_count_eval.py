"""A trap model's count error: the confidence is picked on validation cards, and the figure is per card."""

from __future__ import annotations

import numpy as np

from training.count_eval import best_conf, count_result


def _scores(cards):
    return {name: (true, np.array(confs, np.float32)) for name, (true, confs) in cards.items()}


def test_count_error_is_per_card_and_relative_to_the_true_count():
    scores = _scores({"a": (10, [0.9] * 9 + [0.2] * 4), "b": (0, [0.15]), "c": (20, [0.8] * 22)})
    at = count_result("test", scores, 0.3)
    assert at.per_card == {"a": (10, 9), "b": (0, 0), "c": (20, 22)}
    assert at.mae == 1.0 and at.relative_mae == 0.1  # (1 + 0 + 2) / 3 cards, over a mean of 10 insects
    assert at.bias == round((-1 + 0 + 2) / 3, 2)
    low = count_result("test", scores, 0.1)  # the low-confidence specks are counted too
    assert low.per_card["a"] == (10, 13) and low.per_card["b"] == (0, 1)


def test_the_confidence_is_the_one_that_counts_the_validation_cards_best():
    val = _scores({"v1": (5, [0.9] * 5 + [0.3, 0.3]), "v2": (3, [0.7] * 3 + [0.32])})
    assert best_conf(val) == 0.35  # 0.35 counts 5 and 3 exactly; 0.3 and below count the specks
