"""Metrics against definitions computed the slow, obvious way and against scikit-learn."""

import json

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as sk

from spotipop.evaluation import metrics


def _pairwise_auc(labels, scores):
  """P(score of a random positive > a random negative), ties counting half."""
  pos, neg = scores[labels == 1], scores[labels == 0]
  wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (
      pos[:, None] == neg[None, :]).sum()
  return wins / (pos.size * neg.size)


@pytest.fixture(params=[0, 1, 2])
def sample(request):
  """Skewed labels and tied, informative probabilities."""
  rng = np.random.default_rng(request.param)
  labels = (rng.random(400) < [0.9, 0.5, 0.2][request.param]).astype(int)
  probabilities = np.clip(np.round(rng.random(400) * 0.7 + 0.3 * labels, 2),
                          0, 1)
  return labels, probabilities


def test_roc_auc_equals_pairwise_definition_with_ties(sample):
  labels, scores = sample
  assert abs(metrics.roc_auc(labels, scores) -
             _pairwise_auc(labels, scores)) < 1e-12


def test_roc_auc_is_nan_for_one_class():
  assert np.isnan(metrics.roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))


def test_threshold_metrics_match_scikit_learn(sample):
  labels, probabilities = sample
  m = metrics.classification_metrics(labels, probabilities, threshold=0.5)
  predicted = probabilities >= 0.5
  assert m['mcc'] == pytest.approx(sk.matthews_corrcoef(labels, predicted))
  assert m['balanced_accuracy'] == pytest.approx(
      sk.balanced_accuracy_score(labels, predicted))
  assert m['f1'] == pytest.approx(sk.f1_score(labels, predicted))
  assert m['average_precision'] == pytest.approx(
      sk.average_precision_score(labels, probabilities))
  assert m['brier'] == pytest.approx(
      sk.brier_score_loss(labels, probabilities))
  assert m['roc_auc'] == pytest.approx(sk.roc_auc_score(labels, probabilities))


def test_binary_metrics_by_hand():
  labels = np.array([1, 1, 1, 0, 0, 0, 0])
  probabilities = np.array([0.9, 0.8, 0.2, 0.7, 0.1, 0.3, 0.4])
  # tp=2, fn=1, fp=1, tn=3.
  m = metrics.classification_metrics(labels, probabilities)
  assert m['count'] == 7 and m['positive_rate'] == 3 / 7
  assert m['accuracy'] == 5 / 7
  assert m['precision'] == 2 / 3 and m['recall'] == 2 / 3
  assert abs(m['f1'] - 2 / 3) < 1e-12
  assert m['mcc'] == pytest.approx((2 * 3 - 1 * 1) / np.sqrt(3 * 3 * 4 * 4))
  assert m['balanced_accuracy'] == pytest.approx((2 / 3 + 3 / 4) / 2)
  np.testing.assert_array_equal(metrics.confusion(labels, probabilities >= 0.5),
                                [[3, 1], [1, 2]])


def test_the_class_prior_scores_no_skill_on_skewed_labels():
  # 95.8% popular, as in the published paper table: F1 looks excellent.
  labels = np.r_[np.ones(958), np.zeros(42)]
  m = metrics.classification_metrics(labels, np.ones(1000))
  assert m['f1'] > 0.97 and m['accuracy'] == 0.958
  assert m['mcc'] == 0 and m['balanced_accuracy'] == 0.5
  assert m['roc_auc'] == 0.5 and m['average_precision'] == pytest.approx(0.958)


def test_score_metrics_match_scipy_and_scikit_learn():
  rng = np.random.default_rng(0)
  popularity = rng.integers(0, 101, 300).astype(float)
  predicted = np.clip(popularity + rng.normal(0, 15, 300), 0, 100).round()
  m = metrics.score_metrics(popularity, predicted)
  assert m['mae'] == pytest.approx(sk.mean_absolute_error(popularity, predicted))
  assert m['rmse'] == pytest.approx(
      np.sqrt(sk.mean_squared_error(popularity, predicted)))
  assert m['r2'] == pytest.approx(sk.r2_score(popularity, predicted))
  assert m['spearman'] == pytest.approx(
      stats.spearmanr(popularity, predicted).statistic)


def test_average_ranks_are_scipys_ties_included():
  values = np.random.default_rng(0).integers(0, 5, 40).astype(float)
  np.testing.assert_array_equal(metrics.average_ranks(values),
                                stats.rankdata(values))
  assert list(metrics.average_ranks([3.0, 1.0, 3.0, 2.0])) == [3.5, 1, 3.5, 2]


def test_a_constant_score_has_no_spearman_and_zero_r2():
  popularity = np.array([10.0, 50.0, 90.0])
  m = metrics.score_metrics(popularity, np.full(3, popularity.mean()))
  assert np.isnan(m['spearman']) and m['r2'] == pytest.approx(0.0)


@pytest.mark.parametrize('criterion', ['mcc', 'balanced_accuracy', 'f1'])
def test_chosen_threshold_maximises_the_criterion(sample, criterion):
  labels, probabilities = sample
  score = {'mcc': sk.matthews_corrcoef, 'f1': sk.f1_score,
           'balanced_accuracy': sk.balanced_accuracy_score}[criterion]
  best = max(score(labels, probabilities >= t) for t in np.unique(probabilities))
  chosen = metrics.choose_threshold(labels, probabilities, criterion)
  assert chosen in probabilities
  assert score(labels, probabilities >= chosen) == pytest.approx(best)


def test_reliability_bins_by_hand():
  labels = np.array([0, 0, 1, 1, 1])
  probabilities = np.array([0.05, 0.15, 0.12, 0.95, 1.0])
  bins = metrics.reliability(labels, probabilities)
  assert [b['count'] for b in bins] == [1, 2, 2]
  assert bins[1]['bin'] == [0.1, 0.2]
  assert bins[1]['observed_rate'] == 0.5
  assert bins[1]['mean_probability'] == pytest.approx(0.135)
  assert bins[2]['observed_rate'] == 1.0  # p == 1.0 falls in the last bin.


def test_json_safe_writes_null_for_undefined_values():
  report = metrics.json_safe({'a': float('nan'), 'b': [np.float32(0.5),
                                                       float('inf')],
                              'c': np.int64(3)})
  assert json.dumps(report, allow_nan=False) == (
      '{"a": null, "b": [0.5, null], "c": 3}')


def test_breakdown_by_group_and_era():
  labels = np.array([1, 0, 1, 0])
  probabilities = np.array([0.9, 0.1, 0.2, 0.8])
  eras = metrics.release_era([1994, 1999, 2003, 2008])
  assert eras.tolist() == ['1990s', '1990s', '2000s', '2000s']
  assert metrics.release_era([0]).tolist() == ['unknown']
  by_era = metrics.breakdown(eras, labels, probabilities)
  assert by_era['1990s']['accuracy'] == 1.0 and by_era['2000s']['accuracy'] == 0.0
  assert by_era['1990s']['count'] == 2


def test_labels_and_scores_of_any_numeric_type_give_the_same_metrics():
  """0/1 ints, lists and float32 are how callers hand them over too."""
  labels = [1, 0, 1, 1, 0, 0, 1, 0]
  probabilities = [0.9, 0.1, 0.4, 0.8, 0.4, 0.3, 0.55, 0.7]
  expected = metrics.classification_metrics(np.array(labels, bool),
                                            np.array(probabilities))
  for given in (labels, np.array(labels, np.int64), np.array(labels, np.uint8)):
    got = metrics.classification_metrics(
        given, np.array(probabilities, np.float32), threshold=0.5)
    for name, value in expected.items():
      np.testing.assert_allclose(got[name], value, rtol=1e-6, err_msg=name)
    curve = metrics.roc_curve(given, probabilities)
    np.testing.assert_allclose(curve[1][-1], 1.0)
    assert metrics.confusion(given, [p >= 0.5 for p in probabilities]).tolist(
        ) == [[3, 1], [1, 3]]
  # Popularity is 0-100: uint8 holds it, and must not wrap on subtraction.
  popularity = np.array([10, 90, 40, 60], np.uint8)
  predicted = np.array([30, 70, 50, 20], np.uint8)
  np.testing.assert_allclose(
      list(metrics.score_metrics(popularity, predicted).values()),
      list(metrics.score_metrics(popularity.astype(float),
                                 predicted.astype(float)).values()))


@pytest.mark.parametrize('labels,probabilities', [
    ([1, 1, 0, 0], [0.9, 0.1, 0.8, 0.2]),  # tp = fp = fn = tn = 1.
    ([1, 0], [0.1, 0.2]),  # Nothing predicted popular.
    ([0, 0, 0], [0.9, 0.2, 0.6]),  # No popular track.
    ([1, 1, 1], [0.9, 0.2, 0.6]),  # No unpopular track.
    ([1], [0.7]),  # One track.
    ([0], [0.7]),
])
def test_small_confusions_match_scikit_learn(labels, probabilities):
  got = metrics.classification_metrics(labels, probabilities)
  predicted = np.array(probabilities) >= 0.5
  assert got['accuracy'] == sk.accuracy_score(labels, predicted)
  assert got['precision'] == sk.precision_score(labels, predicted,
                                                zero_division=0)
  assert got['recall'] == sk.recall_score(labels, predicted, zero_division=0)
  assert got['f1'] == sk.f1_score(labels, predicted, zero_division=0)
  np.testing.assert_allclose(got['mcc'],
                             sk.matthews_corrcoef(labels, predicted))


def test_count_formulas_on_their_edges():
  assert metrics.mcc(1, 0, 0, 1) == 1 and metrics.mcc(0, 1, 1, 0) == -1
  big = 300_000  # The product under the square root exceeds int64.
  np.testing.assert_allclose(metrics.mcc(2 * big, big, big, 2 * big), 1 / 3)
  assert metrics.f1_score(0, 0, 0, 5) == 0
  assert np.isnan(metrics.balanced_accuracy(5, 0, 0, 0))  # Python ints.
  assert np.isnan(metrics.balanced_accuracy(0, 3, 0, 4))


@pytest.mark.parametrize('label', [0, 1])
def test_an_undefined_criterion_gets_the_threshold_one_half(label):
  """Balanced accuracy needs both classes (MCC and F1 are 0 without them)."""
  assert metrics.choose_threshold([label] * 4, [0.2, 0.4, 0.6, 0.8],
                                  'balanced_accuracy') == 0.5


def test_a_roc_curve_with_one_track_of_a_class_still_reaches_one():
  fpr, tpr = metrics.roc_curve([1, 0, 0, 0], [0.9, 0.8, 0.2, 0.1])
  assert tpr[-1] == 1 and fpr[-1] == 1
  fpr, tpr = metrics.roc_curve([0, 1, 1, 1], [0.9, 0.8, 0.2, 0.1])
  assert tpr[-1] == 1 and fpr[-1] == 1


def test_reliability_keeps_the_top_probabilities_in_the_last_bin():
  bins = metrics.reliability([1, 0, 1], [0.95, 1.0, 0.85])
  assert [(b['bin'], b['count']) for b in bins] == [
      ([0.8, 0.9], 1), ([0.9, 1.0], 2)]


def test_score_metrics_on_a_narrow_or_constant_popularity():
  # A range of exactly 1 is not constant: R^2 and Spearman are defined.
  popularity, predicted = [0, 1, 0, 1], [0.1, 0.9, 0.3, 0.8]
  got = metrics.score_metrics(popularity, predicted)
  np.testing.assert_allclose(got['r2'], sk.r2_score(popularity, predicted))
  np.testing.assert_allclose(got['spearman'],
                             stats.spearmanr(popularity, predicted)[0])
  got = metrics.score_metrics([3, 5, 4, 6], [0.0, 1.0, 0.5, 1.0])
  np.testing.assert_allclose(got['spearman'], stats.spearmanr(
      [3, 5, 4, 6], [0.0, 1.0, 0.5, 1.0])[0])
  flat = metrics.score_metrics([1, 1, 1], [0.1, 0.9, 0.3])
  assert np.isnan(flat['r2']) and np.isnan(flat['spearman'])
  got = metrics.score_metrics([3, 5, 4], [7, 7, 7])
  assert np.isnan(got['spearman']) and np.isfinite(got['r2'])


def test_breakdown_applies_the_threshold_it_is_given():
  groups, labels = ['a', 'a', 'b'], [1, 0, 1]
  low = metrics.breakdown(groups, labels, [0.3, 0.2, 0.35], threshold=0.25)
  assert low['a']['recall'] == 1 and low['a']['precision'] == 1
  assert low['b']['recall'] == 1
