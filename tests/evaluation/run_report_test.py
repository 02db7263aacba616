"""predictions.csv: its columns against what docs/evaluation.md promises."""

import csv

import numpy as np

from spotipop.evaluation import run_report


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
