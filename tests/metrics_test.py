"""Metrics against definitions computed the slow, obvious way."""

import numpy as np

from spotipop import metrics


def _pairwise_auc(labels, scores):
  """P(score of a random positive > a random negative), ties counting half."""
  pos, neg = scores[labels == 1], scores[labels == 0]
  wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (
      pos[:, None] == neg[None, :]).sum()
  return wins / (pos.size * neg.size)


def test_roc_auc_equals_pairwise_definition_with_ties():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 500)
  scores = np.round(rng.random(500) + 0.3 * labels, 1)  # Many ties.
  assert abs(metrics.roc_auc(labels, scores) - _pairwise_auc(labels, scores)) < 1e-12


def test_roc_auc_is_nan_for_one_class():
  assert np.isnan(metrics.roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))


def test_binary_metrics_by_hand():
  labels = np.array([1, 1, 1, 0, 0, 0, 0])
  probabilities = np.array([0.9, 0.8, 0.2, 0.7, 0.1, 0.3, 0.4])
  # tp=2, fn=1, fp=1, tn=3.
  m = metrics.binary_metrics(labels, probabilities)
  assert m['count'] == 7
  assert m['accuracy'] == 5 / 7
  assert m['precision'] == 2 / 3 and m['recall'] == 2 / 3
  assert abs(m['f1'] - 2 / 3) < 1e-12
  np.testing.assert_array_equal(metrics.confusion(labels, probabilities >= 0.5),
                                [[3, 1], [1, 2]])


def test_breakdown_by_group_and_era():
  labels = np.array([1, 0, 1, 0])
  probabilities = np.array([0.9, 0.1, 0.2, 0.8])
  eras = metrics.release_era([1994, 1999, 2003, 2008])
  assert eras.tolist() == ['1990s', '1990s', '2000s', '2000s']
  by_era = metrics.breakdown(eras, labels, probabilities)
  assert by_era['1990s']['accuracy'] == 1.0 and by_era['2000s']['accuracy'] == 0.0
  assert by_era['1990s']['count'] == 2
