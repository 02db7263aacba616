"""Baselines see the train split (and validation, for early stopping) only,
through the same transformed features the network reads."""

import os

import numpy as np
import pytest

from conftest import small_config
from spotipop.data import datasets
from spotipop.data import pipeline
from spotipop.evaluation import baselines


def _table(rng, n, width=4):
  features = rng.standard_normal((n, width)).astype(np.float32)
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
  from spotipop.evaluation import metrics  # pylint: disable=g-import-not-at-top
  gbdt = baselines.fit_predict(tables)['gbdt']['test']
  assert metrics.roc_auc(tables['test']['label'], gbdt['probability']) > 0.85
  assert 'train' not in baselines.fit_predict(tables)['gbdt']


@pytest.fixture(scope='module')
def spread_tables():
  """Popularity over the whole 0-100 range, many tracks at each end; ten
  feature columns, so that --feature_fraction's draw (of 9) follows the seed."""
  rng = np.random.default_rng(2)
  out = {}
  for split, n in (('train', 600), ('validation', 200), ('test', 200)):
    table = _table(rng, n, width=10)
    table['popularity'] = np.clip(3 * (table['popularity'] - 50) + 50, 0,
                                  100).astype(np.float32)
    out[split] = table
  return out


@pytest.mark.slow  # 2,000 boosting rounds twice: seconds.
@pytest.mark.mutation  # The GBDT's documented settings: the mutation run checks them.
def test_the_gbdt_is_lightgbm_as_documented_early_stopped_on_validation(
    spread_tables):
  """An independent fit with the parameters benchmarks/README.md measured:
  a change to any of them changes every comparison a report makes."""
  import lightgbm as lgb  # pylint: disable=g-import-not-at-top
  tables = spread_tables

  def inputs(split):
    return np.column_stack([tables[split]['features'],
                            tables[split]['genre_id']])

  def fit(objective, metric, target):
    params = {'objective': objective, 'metric': metric, 'seed': 7,
              'learning_rate': 0.05, 'num_leaves': 31, 'min_data_in_leaf': 20,
              'feature_fraction': 0.9, 'deterministic': True,
              'force_row_wise': True, 'verbosity': -1,
              'num_threads': os.cpu_count()}
    train = lgb.Dataset(inputs('train'), tables['train'][target],
                        categorical_feature=[10])
    validation = lgb.Dataset(inputs('validation'),
                             tables['validation'][target], reference=train,
                             categorical_feature=[10])
    booster = lgb.train(params, train, num_boost_round=2000,
                        valid_sets=[validation],
                        callbacks=[lgb.early_stopping(50, verbose=False)])
    assert booster.best_iteration < 2000  # Early stopping, not the cap.
    return booster.predict(inputs('test'),
                           num_iteration=booster.best_iteration)

  out = baselines.fit_predict(tables, seed=7)['gbdt']
  other_seed = baselines.fit_predict(tables, seed=8)['gbdt']
  assert not np.array_equal(out['test']['probability'],
                            other_seed['test']['probability'])
  np.testing.assert_array_equal(out['test']['probability'],
                                fit('binary', 'auc', 'label'))
  score = fit('regression', 'l2', 'popularity')
  np.testing.assert_array_equal(out['test']['score'], np.clip(score, 0, 100))
  # The clip binds at both ends here, so its bounds are checked too.
  assert score.min() < 1 and score.max() > 99
  assert set(out) == {'test', 'validation'}


def test_read_tabular_is_the_networks_view_of_a_split_without_its_audio(
    catalogue, tmp_path, monkeypatch):
  config = small_config(catalogue[0], tmp_path)
  builder = datasets.build(config.data)
  expected = pipeline.read_split(builder.as_data_source('validation'),
                                 builder.info.metadata)
  # The clips are left as stored bytes: decoding them is the cost of a read.
  for decode in ('decode_example', 'decode_example_np'):
    monkeypatch.setattr(builder.info.features['audio'], decode,
                        lambda *_: pytest.fail('a clip was decoded'))
  table = datasets.read_tabular(builder, 'validation')
  assert 'audio' in expected and set(table) == set(expected) - {'audio'}
  for key, values in table.items():
    np.testing.assert_array_equal(values, expected[key], err_msg=key)
  # A dataset built without audio reads the same way.
  tabular = datasets.build(config.data, with_audio=False)
  assert 'audio' not in tabular.info.features
  for key, values in datasets.read_tabular(tabular, 'validation').items():
    np.testing.assert_array_equal(values, expected[key], err_msg=key)


def test_gbdt_contributions_are_each_columns_share_of_the_log_odds(tables):
  """TreeSHAP: per track, the contributions of the feature columns and the
  genre plus one constant (the expected value) are the classifier's raw
  log-odds; a column the trees never split on contributes nothing."""
  train = {**tables['train'], 'features': np.column_stack(
      [tables['train']['features'], np.zeros(600)])}  # A constant column.
  validation, test = ({**tables[s], 'features': np.column_stack(
      [tables[s]['features'], np.zeros(200)])} for s in ('validation', 'test'))
  classifier = baselines.fit_gbdt(train, validation, 'label')
  contributions = baselines.gbdt_contributions(classifier, test)
  width = test['features'].shape[1]
  assert contributions.shape == (200, width + 1)
  np.testing.assert_array_equal(contributions[:, width - 1], 0)
  log_odds = classifier.predict(
      np.column_stack([test['features'], test['genre_id']]),
      num_iteration=classifier.best_iteration, raw_score=True)
  rest = log_odds - contributions.sum(1)
  np.testing.assert_allclose(rest, rest[0], atol=1e-9)
  assert np.abs(contributions[:, :width - 1]).mean() > 0.01  # They are used.
