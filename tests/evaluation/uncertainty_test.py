"""Bootstrap intervals: exact per resample, calibrated, paired, grouped."""

import numpy as np
import pytest
from scipy import stats

from spotipop.evaluation import metrics
from spotipop.evaluation import uncertainty


def _sample(rng, n, shift=1.0):
  labels = rng.random(n) < 0.4
  probability = 1 / (1 + np.exp(-(rng.standard_normal(n) + shift * labels)))
  # Rounded: ties within and across classes, as real scores have.
  probability = np.round(probability, 2)
  popularity = np.clip(50 + 20 * rng.standard_normal(n) + 10 * labels, 0, 100)
  score = np.round(popularity + 15 * rng.standard_normal(n))
  return labels, probability, popularity, score


def test_each_resample_equals_the_metrics_of_its_drawn_tracks():
  """The multiplicity formulas against metrics.py on the tracks drawn."""
  rng = np.random.default_rng(0)
  labels, probability, popularity, score = _sample(rng, 120)
  w = np.asarray(uncertainty.multiplicities(120, 5, seed=1))
  predictor = {'probability': probability, 'score': score, 'threshold': 0.55}
  samples = uncertainty.metric_samples(w, labels, popularity, predictor)
  for b in range(5):
    drawn = np.repeat(np.arange(120), w[b])
    expected = {
        **metrics.classification_metrics(labels[drawn], probability[drawn],
                                         0.55),
        **metrics.score_metrics(popularity[drawn], score[drawn])}
    for name, value in expected.items():
      assert samples[name][b] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_resamples_of_a_handful_of_tracks_equal_their_drawn_tracks_metrics():
  """Six float32 tracks, 300 resamples (past one block of them): draws with
  no positive, none predicted positive, one predicted positive, a constant
  or nearly constant popularity, a constant score; a probability exactly at
  the threshold is predicted popular."""
  labels = np.array([1, 0, 0, 1, 0, 0], bool)
  probability = np.float32([0.625, 0.625, 0.2, 0.9, 0.7, 0.1])
  popularity = np.float32([50.3, 50.3, 51.1, 50.3, 62.7, 50.3])
  score = np.float32([48.2, 55.9, 55.9, 55.9, 55.9, 50.3])
  w = np.asarray(uncertainty.multiplicities(6, 300, seed=0))
  assert len(w) > uncertainty._BLOCK  # pylint: disable=protected-access
  predictor = {'probability': probability, 'score': score, 'threshold': 0.625}
  samples = uncertainty.metric_samples(w, labels, popularity, predictor)
  seen = set()
  for b in range(300):
    drawn = np.repeat(np.arange(6), w[b])
    expected = {
        **metrics.classification_metrics(labels[drawn], probability[drawn],
                                         0.625),
        **metrics.score_metrics(popularity[drawn], score[drawn])}
    assert set(samples) == set(expected)
    for name, value in expected.items():
      assert len(samples[name]) == 300
      assert samples[name][b] == pytest.approx(value, rel=1e-12, abs=1e-15,
                                               nan_ok=True), (b, name)
    predicted = probability[drawn] >= 0.625
    seen |= {('no positive', not labels[drawn].any()),
             ('none predicted', not predicted.any()),
             ('one predicted', predicted.sum() == 1),
             ('constant popularity', np.ptp(popularity[drawn]) == 0),
             ('constant score', np.ptp(score[drawn]) == 0),
             ('popularity spread under 1', 0 < np.var(popularity[drawn]) *
              len(drawn) <= 1)}
  # Each degenerate case was drawn at least once.
  assert {case for case, happened in seen if happened} == {
      'no positive', 'none predicted', 'one predicted', 'constant popularity',
      'constant score', 'popularity spread under 1'}


def test_group_resampling_keeps_each_group_whole():
  groups = np.repeat([f'artist{i}' for i in range(30)], 4)
  w = np.asarray(uncertainty.multiplicities(120, 50, seed=0, groups=groups))
  for row in w:
    per_group = row.reshape(30, 4)
    assert (per_group == per_group[:, :1]).all()
    assert per_group[:, 0].sum() == 30  # 30 groups drawn.


def test_the_same_seed_gives_the_same_resamples():
  a = np.asarray(uncertainty.multiplicities(40, 10, seed=3))
  np.testing.assert_array_equal(a, np.asarray(uncertainty.multiplicities(
      40, 10, seed=3)))
  assert not np.array_equal(a, np.asarray(uncertainty.multiplicities(
      40, 10, seed=4)))
  assert (a.sum(1) == 40).all()


def test_roc_auc_intervals_cover_the_true_auc_95_percent_of_the_time():
  """Binormal scores, true ROC-AUC Phi(d / sqrt 2) = 0.760: over 200 test
  splits of 120 tracks, the 95% interval covers it 88-99% of the time."""
  rng = np.random.default_rng(0)
  d = 1.0
  truth = stats.norm.cdf(d / np.sqrt(2))
  covered = 0
  for sim in range(200):
    labels = np.r_[np.zeros(60, bool), np.ones(60, bool)]
    scores = rng.standard_normal(120) + d * labels
    w = np.asarray(uncertainty.multiplicities(120, 500, seed=sim))
    auc = uncertainty.metric_samples(
        w, labels, None, {'probability': scores, 'threshold': 0.0})['roc_auc']
    low, high = uncertainty.interval(auc)
    covered += low <= truth <= high
  assert 0.88 <= covered / 200 <= 0.99, covered


def _delong_standard_error(labels, scores):
  """DeLong, DeLong & Clarke-Pearson (1988): the ROC-AUC's variance from
  its placement values."""
  positive, negative = scores[labels], scores[~labels]
  psi = ((positive[:, None] > negative[None]) +
         0.5 * (positive[:, None] == negative[None]))
  v10, v01 = psi.mean(1), psi.mean(0)
  return np.sqrt(v10.var(ddof=1) / len(positive) +
                 v01.var(ddof=1) / len(negative))


def test_roc_auc_bootstrap_spread_matches_delongs_standard_error():
  rng = np.random.default_rng(1)
  labels = rng.random(600) < 0.3
  scores = rng.standard_normal(600) + 0.8 * labels
  w = np.asarray(uncertainty.multiplicities(600, 2000, seed=0))
  auc = uncertainty.metric_samples(
      w, labels, None, {'probability': scores, 'threshold': 0.0})['roc_auc']
  delong = _delong_standard_error(labels, scores)
  assert auc.std() == pytest.approx(delong, rel=0.1)


def test_a_predictor_against_itself_differs_by_zero_with_p_one():
  rng = np.random.default_rng(2)
  labels, probability, _, _ = _sample(rng, 200)
  w = np.asarray(uncertainty.multiplicities(200, 300, seed=0))
  auc = uncertainty.metric_samples(
      w, labels, None, {'probability': probability,
                        'threshold': 0.5})['roc_auc']
  result = uncertainty.paired(auc, auc)
  assert result['interval'] == [0.0, 0.0]
  assert result['p_value'] == 1.0 and result['verdict'] == 'not resolved'


def test_a_clearly_better_predictor_is_resolved():
  rng = np.random.default_rng(3)
  labels, good, _, _ = _sample(rng, 400, shift=2.0)
  noise = rng.random(400)
  w = np.asarray(uncertainty.multiplicities(400, 1000, seed=0))

  def samples(probability):
    return uncertainty.metric_samples(
        w, labels, None, {'probability': probability, 'threshold': 0.5})

  ours, theirs = samples(good), samples(noise)
  auc = uncertainty.paired(ours['roc_auc'], theirs['roc_auc'])
  assert auc['p_value'] < 0.01 and auc['verdict'] == 'better'
  assert auc['interval'][0] > 0
  # Lower is better for the Brier score: the noise is worse.
  brier = uncertainty.paired(theirs['brier'], ours['brier'],
                             higher_is_better=False)
  assert brier['verdict'] == 'worse' and brier['p_value'] < 0.01


def test_a_metric_undefined_on_many_resamples_has_no_interval():
  labels = np.r_[np.ones(49, bool), False]  # One unpopular track.
  w = np.asarray(uncertainty.multiplicities(50, 200, seed=0))
  auc = uncertainty.metric_samples(
      w, labels, None, {'probability': np.linspace(0, 1, 50),
                        'threshold': 0.5})['roc_auc']
  assert np.isnan(auc).mean() > 0.3  # It is not drawn in about 36%.
  assert uncertainty.interval(auc) is None


@pytest.mark.parametrize('higher_is_better', [True, False])
def test_paired_verdicts_p_values_and_their_floor_by_hand(higher_is_better):
  zeros = np.zeros(100)
  # 90 resamples above zero, 10 below: p = 2 x 10 / 100, not resolved.
  straddling = uncertainty.paired(np.r_[np.full(90, 0.1), np.full(10, -0.1)],
                                  zeros, higher_is_better)
  assert straddling['verdict'] == 'not resolved'
  assert straddling['p_value'] == pytest.approx(0.2)
  assert straddling['interval'][0] < 0 < straddling['interval'][1]
  # Every resample above zero: resolved, p at its floor of 1 / resamples.
  above = uncertainty.paired(np.linspace(0.01, 0.05, 100), zeros,
                             higher_is_better)
  assert above['verdict'] == ('better' if higher_is_better else 'worse')
  assert above['p_value'] == pytest.approx(1 / 100)
  below = uncertainty.paired(zeros, np.linspace(0.01, 0.05, 100),
                             higher_is_better)
  assert below['verdict'] == ('worse' if higher_is_better else 'better')
  assert uncertainty.paired(np.full(100, np.nan), zeros) == {
      'interval': None, 'p_value': None, 'verdict': 'undefined'}


def test_interval_is_the_central_95_percent_and_needs_95_percent_defined():
  np.testing.assert_allclose(uncertainty.interval(np.arange(1001.0)),
                             [25.0, 975.0])
  # Exactly 5% undefined still has an interval; more has none.
  assert uncertainty.interval(np.r_[np.arange(95.0), np.full(5, np.nan)])
  assert uncertainty.interval(np.r_[np.arange(94.0), np.full(6, np.nan)]) is None


@pytest.mark.parametrize('groups', [None, np.arange(300) % 40])
def test_resamples_drawn_block_by_block_are_the_draws_of_one_matrix(groups):
  """Memory holds one block of draws, whatever the resamples; every block is
  drawn anew, the same, each time a predictor reads them."""
  rng = np.random.default_rng(0)
  labels, popularity = rng.integers(0, 2, 300), rng.uniform(0, 100, 300)
  predictor = {'probability': rng.uniform(size=300),
               'score': rng.uniform(0, 100, 300), 'threshold': 0.5}
  lazy = uncertainty.multiplicities(300, 300, seed=7, groups=groups)
  whole = np.asarray(lazy)
  assert whole.shape == (300, 300) and len(lazy) == 300
  blocked = uncertainty.metric_samples(lazy, labels, popularity, predictor)
  at_once = uncertainty.metric_samples(whole, labels, popularity, predictor)
  assert blocked.keys() == at_once.keys()
  for name in blocked:
    np.testing.assert_array_equal(blocked[name], at_once[name])
  huge = uncertainty.multiplicities(20_000, 100_000, seed=0)
  assert next(huge.blocks()).shape == (128, 20_000)  # Not [100000, 20000].
