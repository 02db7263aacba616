"""Predictors of different runs compared on the same tracks and resamples."""

import csv
import json

import numpy as np
import pytest

from spotipop import errors
from spotipop.evaluation import metrics
from spotipop.evaluation import run_comparison
from spotipop.evaluation import uncertainty

COLUMNS = ('track_id', 'group', 'label', 'popularity', 'probability',
           'predicted_popularity', 'gbdt_probability', 'gbdt_popularity')


def _run(folder, track_ids, labels, model, gbdt, unit='track'):
  """A finished run's test predictions.csv and report.json."""
  out = folder / 'eval' / 'test-best'
  out.mkdir(parents=True)
  with open(out / 'predictions.csv', 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(COLUMNS)
    for i, track in enumerate(track_ids):
      writer.writerow([track, f'artist{i % 7}', labels[i], 40 + 20 * labels[i],
                       model[i], 100 * model[i], gbdt[i], 100 * gbdt[i]])
  (out / 'report.json').write_text(json.dumps({'bootstrap': {'unit': unit}}))
  return str(folder)


@pytest.fixture
def runs(tmp_path):
  """Two runs of the same 200 test tracks (listed in other orders): a good
  network and a weak GBDT in run a; in run b, a GBDT as good as a's network."""
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 200)
  good = np.clip(0.5 + 0.35 * (labels - 0.5) + rng.normal(0, 0.2, 200), 0, 1)
  weak = np.clip(0.5 + 0.05 * (labels - 0.5) + rng.normal(0, 0.2, 200), 0, 1)
  ids = [f't{i}' for i in range(200)]
  a = _run(tmp_path / 'a', ids, labels, good, weak)
  order = rng.permutation(200)
  b = _run(tmp_path / 'b', [ids[i] for i in order], labels[order],
           weak[order], good[order])
  return a, b, labels, good


def test_each_predictor_is_scored_on_its_own_values(runs):
  a, _, labels, good = runs
  out = run_comparison.compare([f'{a}:model', f'{a}:gbdt'], 200, 0)
  value, bounds = out['predictors'][f'{a}:model']['roc_auc']
  assert value == pytest.approx(metrics.roc_auc(labels, good))
  assert bounds[0] < value < bounds[1]


def test_the_same_predictor_in_two_runs_differs_by_exactly_nothing(runs):
  """Tracks are matched by id, and both sides are scored on the same
  resamples: separate resamples would give an interval around zero."""
  a, b, _, _ = runs
  out = run_comparison.compare([f'{a}:model', f'{b}:gbdt'], 200, 0)
  for metric, _ in run_comparison.COMPARED:
    c = out['differences'][f'{b}:gbdt'][metric]
    assert c['difference'] == pytest.approx(0.0, abs=1e-9), metric
    assert c['interval'] == pytest.approx([0.0, 0.0], abs=1e-9), metric
    assert c['verdict'] == 'not resolved'


def test_a_better_predictor_of_another_run_is_resolved_better(runs):
  a, b, _, _ = runs
  out = run_comparison.compare([f'{b}:gbdt', f'{a}:gbdt'], 500, 0)
  c = out['differences'][f'{a}:gbdt']
  assert c['roc_auc']['verdict'] == 'better' and c['roc_auc']['difference'] > 0
  assert c['brier']['verdict'] == 'better' and c['brier']['difference'] < 0
  assert out['tracks'] == 200 and out['resamples'] == 500


def test_runs_of_other_test_tracks_are_refused_naming_them(runs, tmp_path):
  a, _, labels, good = runs
  other = _run(tmp_path / 'other', [f'x{i}' for i in range(200)], labels,
               good, good)
  with pytest.raises(errors.SpotipopError,
                     match=f'{other}:model and {a}:model hold out other'):
    run_comparison.compare([f'{a}:model', f'{other}:model'], 100, 0)
  with pytest.raises(errors.SpotipopError, match='WORKDIR:model or'):
    run_comparison.compare([f'{a}:tree', f'{a}:model'], 100, 0)
  with pytest.raises(errors.SpotipopError, match='no test report'):
    run_comparison.compare([f'{tmp_path}/none:model', f'{a}:model'], 100, 0)


def test_a_class_under_ten_tracks_cannot_rank(tmp_path):
  labels = np.array([1] * 40 + [0] * 5)
  scores = np.linspace(0, 1, 45)
  ids = [f't{i}' for i in range(45)]
  a = _run(tmp_path / 'a', ids, labels, scores, scores[::-1])
  out = run_comparison.compare([f'{a}:model', f'{a}:gbdt'], 200, 0)
  c = out['differences'][f'{a}:gbdt']
  assert c['roc_auc']['verdict'] == 'cannot rank'
  assert c['mae']['verdict'] != 'cannot rank'


def test_artist_runs_are_resampled_by_artist(runs, tmp_path):
  _, _, labels, good = runs
  ids = [f't{i}' for i in range(200)]
  a = _run(tmp_path / 'grouped', ids, labels, good, good, unit='group')
  out = run_comparison.compare([f'{a}:model', f'{a}:gbdt'], 200, 0)
  assert out['unit'] == 'group' and out['units'] == 7
  # The resamples draw whole artists: the intervals are those of the seven
  # artists' draws, not of 200 independent tracks'.
  draws = uncertainty.multiplicities(200, 200, 0, [f'artist{i % 7}'
                                                   for i in range(200)])
  samples = uncertainty.predictors_samples(
      draws, labels, 40.0 + 20 * labels,
      {'model': {'probability': good, 'score': 100 * good, 'threshold': 0.5}})
  assert out['predictors'][f'{a}:model']['roc_auc'][1] == pytest.approx(
      uncertainty.interval(samples['model']['roc_auc']))
  assert 'of the 7 test groups' in run_comparison.table(out)
  # Seven artists resampled decide nothing, on any metric.
  assert {c['verdict'] for c in out['differences'][f'{a}:gbdt'].values()} == {
      'cannot decide'}


def test_a_seed_draws_the_same_resamples_and_another_seed_others(runs):
  a, b, _, _ = runs
  specs = [f'{a}:model', f'{b}:model']
  first, again, other = (run_comparison.compare(specs, 100, seed)
                         for seed in (4, 4, 5))
  assert first == again
  assert (first['predictors'][specs[0]]['roc_auc'][1] !=
          other['predictors'][specs[0]]['roc_auc'][1])


def test_two_test_tracks_cannot_decide(tmp_path):
  a = _run(tmp_path / 'a', ['t0', 't1'], np.array([0, 1]), np.array([0.1, 0.9]),
           np.array([0.9, 0.1]))
  out = run_comparison.compare([f'{a}:model', f'{a}:gbdt'], 200, 0)
  verdicts = {c['verdict'] for c in out['differences'][f'{a}:gbdt'].values()}
  assert verdicts == {'cannot decide'}


def test_the_table_shows_each_predictor_then_each_difference():
  metrics_shown = ('roc_auc', 'average_precision', 'brier', 'mae', 'r2')

  def predictor(offset, bounds):
    return {m: (0.5 + offset + i / 10, bounds) for i, m in
            enumerate(metrics_shown)}
  comparison = {
      'predictors': {'a:model': predictor(0.0, (0.1, 0.9)),
                     'b:gbdt': predictor(0.01, None),
                     'c:model': predictor(-0.2, (0.2, 0.3))},
      'differences': {
          'b:gbdt': {m: {'difference': -0.01, 'interval': None,
                         'verdict': 'cannot decide'} for m in metrics_shown},
          'c:model': {m: {'difference': 0.2, 'interval': (0.05, 0.31),
                          'verdict': 'better'} for m in metrics_shown}},
      'resamples': 500, 'units': 12, 'unit': 'group'}
  assert run_comparison.table(comparison).splitlines() == [
      '| predictor | ROC-AUC | PR-AUC | Brier | MAE | R² |',
      '| --- | --- | --- | --- | --- | --- |',
      '| a:model | 0.500 [0.100, 0.900] | 0.600 [0.100, 0.900] | 0.700 '
      '[0.100, 0.900] | 0.800 [0.100, 0.900] | 0.900 [0.100, 0.900] |',
      '| b:gbdt | 0.510 | 0.610 | 0.710 | 0.810 | 0.910 |',
      '| c:model | 0.300 [0.200, 0.300] | 0.400 [0.200, 0.300] | 0.500 '
      '[0.200, 0.300] | 0.600 [0.200, 0.300] | 0.700 [0.200, 0.300] |',
      '| a:model - b:gbdt | -0.010 | -0.010 | -0.010 | -0.010 | -0.010 |',
      '| a:model - c:model | ' + ' | '.join(
          ['+0.200 [+0.050, +0.310]: better'] * 5) + ' |',
      '',
      '95% intervals from 500 resamples of the 12 test groups.']


def test_a_run_folder_with_a_colon_in_its_name_is_read(runs, tmp_path):
  _, _, labels, good = runs
  colon = tmp_path / 'run:2'
  (tmp_path / 'a').rename(colon)
  predictor = run_comparison.read_predictor(f'{colon}:model')
  np.testing.assert_array_equal(predictor['label'], labels)
  np.testing.assert_allclose(predictor['probability'], good)
