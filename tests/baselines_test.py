"""Baselines see the train split (and validation, for early stopping) only."""

import numpy as np
import pytest

from spotipop import baselines


def _table(rng, n):
  features = rng.standard_normal((n, 4)).astype(np.float32)
  popularity = np.clip(50 + 15 * features[:, 0] - 10 * features[:, 1]
                       + 5 * rng.standard_normal(n), 0, 100)
  return {'features': features, 'genre_id': rng.integers(0, 3, n),
          'label': (popularity >= 50).astype(np.int32),
          'popularity': popularity.astype(np.float32)}


@pytest.fixture(scope='module')
def tables():
  rng = np.random.default_rng(0)
  return {'train': _table(rng, 600), 'validation': _table(rng, 200),
          'test': _table(rng, 200)}


def test_test_labels_do_not_change_any_baseline(tables):
  permuted = dict(tables)
  order = np.random.default_rng(1).permutation(200)
  permuted['test'] = {**tables['test'],
                      'label': tables['test']['label'][order],
                      'popularity': tables['test']['popularity'][order]}
  expected = baselines.fit_predict(tables)
  actual = baselines.fit_predict(permuted)
  for name in baselines.NAMES:
    for output in ('probability', 'score'):
      a, e = actual[name]['test'][output], expected[name]['test'][output]
      assert (a is None) == (e is None)
      if e is not None:
        np.testing.assert_array_equal(a, e, err_msg=f'{name} {output}')


def test_trivial_baselines_are_the_train_splits_constants(tables):
  out = baselines.fit_predict(tables)
  train = tables['train']
  np.testing.assert_array_equal(out['always_popular']['test']['probability'],
                                np.ones(200))
  assert out['train_prior']['test']['probability'] == pytest.approx(
      np.full(200, train['label'].mean()))
  assert out['train_mean_popularity']['test']['score'] == pytest.approx(
      np.full(200, train['popularity'].mean()))
  assert out['always_popular']['test']['score'] is None


def test_gbdt_learns_the_signal(tables):
  from spotipop import metrics  # pylint: disable=g-import-not-at-top
  gbdt = baselines.fit_predict(tables)['gbdt']['test']
  assert metrics.roc_auc(tables['test']['label'], gbdt['probability']) > 0.85
  assert 'train' not in baselines.fit_predict(tables)['gbdt']
