"""Baselines fitted on the run's own split, features and preprocessing.

A popularity model is only worth its cost if it beats what needs no model:
the class prior (always "popular", or the train-split positive rate), the
train-split mean popularity, and a gradient-boosted tree ensemble on the very
same standardised features and genre ids the network sees.

The trees are LightGBM: fast on tabular rows (the whole of an evaluation,
these fits included, is timed in benchmarks/README.md), it handles the genre
id as a categorical split natively, and is deterministic with
`deterministic=True`.
"""

import os

import numpy as np

NAMES = ('gbdt', 'always_popular', 'train_prior', 'train_mean_popularity')
_GBDT_PARAMS = {
    'learning_rate': 0.05, 'num_leaves': 31, 'min_data_in_leaf': 20,
    'feature_fraction': 0.9, 'deterministic': True, 'force_row_wise': True,
    'verbosity': -1,
}
_GBDT_MAX_ROUNDS = 2000
_GBDT_PATIENCE = 50


def _inputs(table):
  """The tree inputs: the transformed features, then the genre id."""
  return np.column_stack([table['features'], table['genre_id']])


def fit_gbdt(train, validation, target, seed=0):
  """The GBDT for 'label' (a classifier) or 'popularity' (a regressor),
  early-stopped on the validation split."""
  # Imported here, where the trees are fitted: LightGBM (with scikit-learn,
  # which it loads when installed) is slow to import (benchmarks/startup.py),
  # and every tool start would pay it, a run that stops at a bad flag
  # included.
  import lightgbm as lgb  # pylint: disable=g-import-not-at-top
  objective = ({'objective': 'binary', 'metric': 'auc'} if target == 'label'
               else {'objective': 'regression', 'metric': 'l2'})
  params = {**_GBDT_PARAMS, 'seed': seed, 'num_threads': os.cpu_count() or 1,
            **objective}

  def dataset(table, reference=None):
    x = _inputs(table)
    return lgb.Dataset(x, table[target], reference=reference,
                       categorical_feature=[x.shape[1] - 1], free_raw_data=False)
  train_set = dataset(train)
  return lgb.train(params, train_set, num_boost_round=_GBDT_MAX_ROUNDS,
                   valid_sets=[dataset(validation, train_set)],
                   callbacks=[lgb.early_stopping(_GBDT_PATIENCE, verbose=False)])


def gbdt_contributions(booster, table):
  """[examples, features + 1] TreeSHAP contributions of each feature column
  and of the genre (last) to the booster's raw output (the classifier's
  log-odds)."""
  return booster.predict(_inputs(table), num_iteration=booster.best_iteration,
                         pred_contrib=True)[:, :-1]  # Less the expected value.


def fit_predict(tables, seed=0):
  """{baseline: {split: {'probability', 'score'}}} for every split but train.

  tables maps split -> datasets.read_tabular(...) and must hold 'train' and 'validation'
  (early stopping). A baseline that does not predict one of the two outputs
  has None there.
  """
  train, validation = tables['train'], tables['validation']
  classifier = fit_gbdt(train, validation, 'label', seed)
  regressor = fit_gbdt(train, validation, 'popularity', seed)
  prior = float(train['label'].mean())
  mean_popularity = float(train['popularity'].mean())
  out = {name: {} for name in NAMES}
  for split, table in tables.items():
    if split == 'train':
      continue
    x = _inputs(table)
    n = len(table['label'])
    out['gbdt'][split] = {
        'probability': classifier.predict(
            x, num_iteration=classifier.best_iteration),
        'score': np.clip(regressor.predict(
            x, num_iteration=regressor.best_iteration), 0, 100)}
    out['always_popular'][split] = {'probability': np.ones(n), 'score': None}
    out['train_prior'][split] = {'probability': np.full(n, prior),
                                 'score': None}
    out['train_mean_popularity'][split] = {
        'probability': None, 'score': np.full(n, mean_popularity)}
  return out
