"""A run's report: predictions.csv's columns against what
docs/evaluation.md promises, and report.json's figures against the model's
own outputs."""

import csv
import json
import os
import shutil

import jax
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from spotipop import errors
from spotipop.data import datasets
from spotipop.evaluation import baselines
from spotipop.evaluation import metrics
from spotipop.evaluation import run_report
from spotipop.run import workdir as workdir_lib


def _predictions():
  ids = np.array(['t0', '=HYPERLINK("x")', '-rm', 't3'])
  return {'test': {
      'track_id': ids, 'group': np.array(['a', '@b', 'c', 'd']),
      'genre': np.array(['pop', 'rock', '+x', 'jazz']),
      'release_year': np.array([2001, 2002, 2003, 2004]),
      'popularity': np.array([10., 40., 60., 90.]),
      'label': np.array([0, 0, 1, 1]),
      'probability': np.array([0.20, 0.35, 0.45, 0.90]),
      'score': np.array([12.0, 41.5, 58.25, 88.0])}}


def _written(tmp_path, threshold):
  gbdt = {'gbdt': {'test': {'probability': np.array([0.1, 0.2, 0.7, 0.8]),
                            'score': np.array([5.0, 30.0, 70.0, 95.0])}}}
  path = tmp_path / f'predictions-{threshold}.csv'
  run_report.write_predictions(str(path), 'test', _predictions(), gbdt,
                               threshold)
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def test_the_predicted_label_is_cut_at_the_validation_threshold(tmp_path):
  """Not at 0.5: at 0.3 the 0.35 and 0.45 tracks are popular, at 0.4 only
  0.45, at 0.5 neither (docs: 'predicted_label', the chosen threshold)."""
  for threshold, labels in ((0.3, ['0', '1', '1', '1']),
                            (0.4, ['0', '0', '1', '1']),
                            (0.5, ['0', '0', '0', '1']),
                            (0.45, ['0', '0', '1', '1'])):  # >= the cut.
    rows = _written(tmp_path, threshold)
    assert [r['predicted_label'] for r in rows] == labels, threshold


def test_each_column_holds_its_value(tmp_path):
  rows = _written(tmp_path, 0.4)
  assert list(rows[0]) == [
      'track_id', 'group', 'genre', 'release_year', 'popularity', 'label',
      'probability', 'predicted_label', 'predicted_popularity',
      'gbdt_probability', 'gbdt_popularity']
  assert rows[3] == {
      'track_id': 't3', 'group': 'd', 'genre': 'jazz', 'release_year': '2004',
      'popularity': '90.0', 'label': '1', 'probability': '0.9000',
      'predicted_label': '1', 'predicted_popularity': '88.0',
      'gbdt_probability': '0.8000', 'gbdt_popularity': '95.0'}


def test_user_text_is_written_as_text_a_spreadsheet_will_not_run(tmp_path):
  rows = _written(tmp_path, 0.4)
  assert [r['track_id'] for r in rows] == ['t0', '\'=HYPERLINK("x")', "'-rm",
                                           't3']
  assert rows[1]['group'] == "'@b" and rows[2]['genre'] == "'+x"


@pytest.mark.xdist_group('untrained')
def test_a_report_scores_the_models_own_outputs(untrained_run, tmp_path):
  """evaluate on conftest's untrained tabular run, each figure against its
  definition computed here: the model's probabilities from its parameters,
  the threshold that --threshold_criterion chooses on validation, the
  ROC-AUC of the test tracks, the GBDT fitted on train beside it, and the
  bootstrap's unit (artists: the run splits by artist) and settings (the
  run's by default)."""
  summary = run_report.evaluate(str(untrained_run))
  out = untrained_run / 'eval' / 'test-best'  # The default, in the run.
  config, _, model, state = workdir_lib.restore_run(str(untrained_run))
  builder = datasets.load(
      json.loads((untrained_run / 'dataset.json').read_text())['data_dir'])
  tables = {s: datasets.read_tabular(builder, s)
            for s in ('train', 'validation', 'test')}

  def probabilities(table):
    logits = model.apply({'params': state.params}, None, table['features'],
                         table['genre_id'])[0]
    return np.asarray(jax.nn.sigmoid(logits))
  test, validation = tables['test'], tables['validation']
  threshold = metrics.choose_threshold(
      validation['label'], probabilities(validation),
      config.eval.threshold_criterion)
  assert summary['threshold']['value'] == pytest.approx(threshold)
  assert summary['overall']['roc_auc'] == pytest.approx(
      roc_auc_score(test['label'], probabilities(test)), abs=1e-6)
  assert (summary['checkpoint'], summary['step']) == ('best', 1)
  with open(out / 'predictions.csv', newline='') as f:
    rows = list(csv.DictReader(f))
  artists = {r['group'] for r in rows}
  assert len(artists) > 1
  assert summary['bootstrap'] == {'resamples': 1000, 'seed': 0,
                                  'confidence': 0.95, 'unit': 'group',
                                  'units': len(artists)}
  assert summary['label'] == ('popular: popularity >= 50 (a 0-100 score)')

  assert [r['track_id'] for r in rows] == list(test['track_id'])
  np.testing.assert_allclose([float(r['probability']) for r in rows],
                             probabilities(test), atol=5e-5)
  gbdt = baselines.fit_predict(tables, config.train.seed)['gbdt']['test']
  np.testing.assert_allclose([float(r['gbdt_probability']) for r in rows],
                             gbdt['probability'], atol=5e-5)
  assert sorted(os.listdir(out)) == ['calibration.png', 'confusion.png',
                                     'predictions.csv', 'report.json',
                                     'roc.png']
  with open(out / 'report.json') as f:
    assert json.load(f) == json.loads(json.dumps(summary))

  # --checkpoint, --bootstrap and --bootstrap_seed given: those, and --out's
  # folder. latest/ holds a model of other parameters.
  again = run_report.evaluate(str(untrained_run), checkpoint='latest',
                              bootstrap=100, bootstrap_seed=3,
                              out_dir=str(tmp_path / 'e'))
  assert (again['bootstrap']['resamples'], again['bootstrap']['seed']) == (
      100, 3)
  assert (again['checkpoint'], again['step']) == ('latest', 2)
  _, _, model, state = workdir_lib.restore_run(str(untrained_run), 'latest')
  latest_auc = roc_auc_score(test['label'], probabilities(test))
  assert latest_auc != pytest.approx(summary['overall']['roc_auc'], abs=1e-3)
  assert again['overall']['roc_auc'] == pytest.approx(latest_auc, abs=1e-6)
  assert (tmp_path / 'e' / 'report.json').exists()


@pytest.mark.xdist_group('untrained')
@pytest.mark.parametrize('split, out, message', [
    ('tset', 'eval', r"^--split=tset: use one of \('train', "),
    ('test', 'FILE/eval', r'^cannot write .*FILE/eval \(.*\): give '
     '--out=A_FOLDER_YOU_CAN_WRITE$')])
def test_a_bad_split_or_output_folder_is_named_before_any_work(
    untrained_run, tmp_path, split, out, message):
  (tmp_path / 'FILE').write_text('a file, where a folder is asked for')
  with pytest.raises(errors.SpotipopError, match=message):
    run_report.evaluate(str(untrained_run), split=split,
                        out_dir=str(tmp_path / out))
  assert sorted(os.listdir(tmp_path)) == ['FILE']


@pytest.mark.xdist_group('untrained')
def test_a_split_not_by_group_resamples_tracks(untrained_run, tmp_path):
  """Only a group split's tracks are resampled by their group; any other
  split's are independent draws, resampled one by one. (The same run, its
  config saying split=random: the test split is what the dataset holds.)"""
  run = tmp_path / 'run'
  shutil.copytree(untrained_run, run)
  config = json.loads((run / 'config.json').read_text())
  config['data']['split'] = 'random'
  (run / 'config.json').write_text(json.dumps(config))
  summary = run_report.evaluate(str(run), bootstrap=100)
  with open(run / 'eval' / 'test-best' / 'predictions.csv', newline='') as f:
    tracks = len(list(csv.DictReader(f)))
  assert summary['bootstrap']['unit'] == 'track'
  assert summary['bootstrap']['units'] == tracks
