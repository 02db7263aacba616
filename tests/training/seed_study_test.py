"""Replicates: which runs vary which seed, and the spread across them."""

import json
import os

import pytest

from conftest import run_module
from conftest import small_config
from conftest import small_flags
from spotipop import errors
from spotipop.training import seed_study


def test_plan_varies_one_seed_at_a_time_and_shares_the_base_run():
  config = small_config('m.csv', '/unused', seed=1, split_seed=2)
  runs = seed_study.plan(config, [0, 1], [2, 5])
  assert [name for name, _ in runs['training seed']] == [
      'seed0_split2', 'seed1_split2']
  assert [name for name, _ in runs['split seed']] == [
      'seed1_split2', 'seed1_split5']
  (_, variant), = [v for v in runs['split seed'] if v[0] == 'seed1_split5']
  assert (variant.train.seed, variant.data.split_seed) == (1, 5)
  assert variant.model == config.model


def test_a_time_split_takes_one_split_seed():
  config = small_config('m.csv', '/unused', split='time',
                        release_column='release_year')
  with pytest.raises(errors.FlagError, match='--split_seeds'):
    seed_study.plan(config, [0], [0, 1])


def _report(model, gbdt, half_width):
  return {'overall': {'roc_auc': model,
                      'intervals': {'roc_auc': [model - half_width,
                                                model + half_width]}},
          'baselines': {'gbdt': {'roc_auc': gbdt}}}


def test_aggregate_gives_mean_sd_range_and_the_bootstrap_half_width():
  summary = seed_study.aggregate([_report(0.70, 0.72, 0.02),
                                  _report(0.74, 0.71, 0.04),
                                  _report(0.72, 0.70, 0.03)])
  auc = summary['roc_auc']
  assert auc['model'] == pytest.approx({'mean': 0.72, 'std': 0.02,
                                        'min': 0.70, 'max': 0.74, 'runs': 3})
  assert auc['difference']['mean'] == pytest.approx(0.01)
  assert auc['bootstrap_half_width'] == pytest.approx(0.03)
  assert summary['mae']['model']['mean'] is None  # Not reported: undefined.
  assert '| training seed | 3 | ROC-AUC | 0.720 ± 0.020 [0.700, 0.740] |' in (
      seed_study.table({'training seed': summary}))


def test_the_table_shows_what_each_source_of_variance_measured():
  """Two runs by training seed, the second without a GBDT figure or an
  interval, and one by split seed: a single run has no sd, a figure missing
  from any run is a dash, and the half-width averages the intervals there
  are."""
  first = _report(0.70, 0.72, 0.02)
  second = {'overall': {'roc_auc': 0.74}, 'baselines': {'gbdt': {}}}
  text = seed_study.table({
      'training seed': seed_study.aggregate([first, second]),
      'split seed': seed_study.aggregate([first])})
  dashes = ' — | — | — | — |'
  assert text.split('\n') == [
      '| varied | runs | metric | spotipop mean ± sd [range] | '
      'GBDT mean ± sd [range] | spotipop - GBDT | bootstrap ± |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      '| training seed | 2 | ROC-AUC | 0.720 ± 0.028 [0.700, 0.740] | — | — '
      '| 0.020 |',
      *(f'| training seed | 2 | {m} |{dashes}'
        for m in ('PR-AUC', 'MCC', 'Brier', 'MAE', 'R²')),
      '| split seed | 1 | ROC-AUC | 0.700 [0.700, 0.700] | '
      '0.720 [0.720, 0.720] | -0.020 [-0.020, -0.020] | 0.020 |',
      *(f'| split seed | 1 | {m} |{dashes}'
        for m in ('PR-AUC', 'MCC', 'Brier', 'MAE', 'R²'))]


def test_each_training_seed_run_keeps_the_flagfiles_split_seed():
  config = small_config('m.csv', '/unused', seed=1, split_seed=2,
                        split='time', release_column='release_year')
  runs = seed_study.plan(config, [0, 3], [2])  # One split seed: accepted.
  assert [(v.train.seed, v.data.split_seed)
          for _, v in runs['training seed']] == [(0, 2), (3, 2)]


@pytest.mark.slow  # Three whole training runs.
def test_replicates_train_each_seed_once_and_resume(catalogue, tmp_path):
  flags = [*small_flags(catalogue[0], tmp_path / 'tfds'),
           f'--workdir={tmp_path / "runs"}', '--towers=tabular_only',
           '--train_seeds=0,1', '--split_seeds=0,1', '--bootstrap=100']
  out = run_module('spotipop.replicates', *flags).stdout
  assert sorted(os.listdir(tmp_path / 'runs')) == [
      'replicates.json', 'seed0_split0', 'seed0_split1', 'seed1_split0']
  assert '| split seed | 2 | ROC-AUC |' in out
  with open(tmp_path / 'runs' / 'replicates.json') as f:
    first = json.load(f)
  again = run_module('spotipop.replicates', *flags)
  assert 'Resumed from' in again.stderr and 'epoch 1/' not in again.stderr
  with open(tmp_path / 'runs' / 'replicates.json') as f:
    assert json.load(f) == first


@pytest.mark.parametrize('train_seeds, split_seeds, message', [
    ([0, 0], [1, 2], '--train_seeds: 0 given more than once'),
    ([0, 1, 1, 0], [1], '--train_seeds: 0, 1 given more than once'),
    ([0, 1], [3, 3], '--split_seeds: 3 given more than once')])
def test_a_seed_given_twice_is_refused_naming_the_flag(train_seeds,
                                                       split_seeds, message):
  config = small_config('', '/unused')
  with pytest.raises(errors.FlagError, match=message):
    seed_study.plan(config, train_seeds, split_seeds)


def _one_runs_report(roc_auc):
  """A test report of one run: the model's ROC-AUC, the GBDT's 0.1 below."""
  return {'overall': {'roc_auc': roc_auc, 'intervals': {
              'roc_auc': [roc_auc - 0.05, roc_auc + 0.05]}},
          'baselines': {'gbdt': {'roc_auc': roc_auc - 0.1}}}


def test_replicate_trains_each_planned_run_once_and_writes_its_summary(
    tmp_path, monkeypatch):
  """The run of both flagfile seeds serves both sources; the summary is
  each source's runs aggregated, in replicates.json beside the runs."""
  trained = []

  def run(variant, workdir):
    trained.append((workdir, variant.train.seed, variant.data.split_seed))
    return _one_runs_report(0.6 + 0.1 * len(trained))
  monkeypatch.setattr(seed_study, 'run', run)
  config = small_config('m.csv', '/unused', seed=1, split_seed=2)
  summary = seed_study.replicate(config, str(tmp_path), [0, 1], [2, 5])
  assert trained == [(str(tmp_path / 'seed0_split2'), 0, 2),
                     (str(tmp_path / 'seed1_split2'), 1, 2),
                     (str(tmp_path / 'seed1_split5'), 1, 5)]
  # seed1_split2 (0.8) is in both: with seed0_split2 (0.7), with seed1_split5
  # (0.9).
  reports = {'seed0_split2': _one_runs_report(0.7),
             'seed1_split2': _one_runs_report(0.8),
             'seed1_split5': _one_runs_report(0.9)}
  assert summary == {
      'training seed': seed_study.aggregate([reports['seed0_split2'],
                                             reports['seed1_split2']]),
      'split seed': seed_study.aggregate([reports['seed1_split2'],
                                          reports['seed1_split5']])}
  assert summary['split seed']['roc_auc']['model']['mean'] == pytest.approx(
      0.85)
  with open(tmp_path / 'replicates.json') as f:
    assert json.load(f) == {
        'runs': {name: report['overall'] for name, report in reports.items()},
        'summary': json.loads(json.dumps(summary))}


def test_a_run_trains_then_reads_its_report_or_evaluates_once(tmp_path,
                                                              monkeypatch):
  """A finished run's report is read back, not recomputed; a run without a
  best checkpoint stops, naming its folder."""
  progress, trained, evaluated = {'best_step': 3}, [], []

  def train_and_evaluate(config, workdir):
    trained.append((config, workdir))
    return progress
  monkeypatch.setattr(seed_study.loop, 'train_and_evaluate',
                      train_and_evaluate)

  def evaluate(workdir, split):
    evaluated.append((workdir, split))
    return {'evaluated': True}
  monkeypatch.setattr(seed_study.run_report, 'evaluate', evaluate)
  config = small_config('m.csv', '/unused')
  assert seed_study.run(config, str(tmp_path)) == {'evaluated': True}
  assert trained == [(config, str(tmp_path))]  # Trained, or resumed.
  assert evaluated == [(str(tmp_path), 'test')]
  report = tmp_path / 'eval' / 'test-best' / 'report.json'
  report.parent.mkdir(parents=True)
  report.write_text('{"read": true}')
  assert seed_study.run(config, str(tmp_path)) == {'read': True}
  assert len(evaluated) == 1
  progress['best_step'] = None
  with pytest.raises(errors.TrainingDivergedError,
                     match=f'^{tmp_path}: no best checkpoint$'):
    seed_study.run(config, str(tmp_path))
