"""Scores the seed paper's published predictions next to trivial baselines.

  python benchmarks/paper_claims.py [--predictions=PATH] [--json=OUT]

Falah, Yousefimehr & Ghatee (2025) report F1 0.97. Their published per-track
predictions (a 0-100 popularity for every track of their table, training rows
included) are scored here as the paper scores them: popular means popularity
>= 50, and a track is predicted popular when its predicted popularity is >= 50.
Beside them: predicting "popular" for every track, the median popularity for
every track, and the mean. The honest metrics (MCC, balanced accuracy, ROC-AUC,
PR-AUC against the positive rate, R^2, Spearman) show how much of the 97% is the
class prior.
"""

import argparse
import csv
import json
import os

import numpy as np

from spotipop import metrics
from spotipop import report

DEFAULT = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'data',
    'falah2025', 'paper_predictions.csv'))
THRESHOLD = 50.0


def _read(path):
  with open(path, newline='', encoding='utf-8-sig') as f:
    rows = list(csv.DictReader(f))
  popularity = np.array([float(r['popularity']) for r in rows])
  predicted = np.array([float(r['predictions']) for r in rows])
  return popularity, predicted


def _classification(labels, predicted_popularity):
  """The paper's decision (>= 50); ranks by predicted popularity for the AUCs.

  Brier is left out: a predicted popularity is not a probability.
  """
  scores = np.clip(predicted_popularity / 100.0, 0.0, 1.0)
  out = metrics.classification_metrics(labels, scores, THRESHOLD / 100.0)
  del out['brier']
  return out


def score(popularity, predicted):
  """{predictor: metrics} for the authors' predictions and the baselines."""
  labels = popularity >= THRESHOLD
  n = popularity.size
  median, mean = float(np.median(popularity)), float(popularity.mean())
  return {
      "authors' predictions": {**_classification(labels, predicted),
                               **metrics.score_metrics(popularity, predicted)},
      'always popular': _classification(labels, np.full(n, 100.0)),
      f'median popularity ({median:g})': {
          **_classification(labels, np.full(n, median)),
          **metrics.score_metrics(popularity, np.full(n, median))},
      f'mean popularity ({mean:.1f})': metrics.score_metrics(
          popularity, np.full(n, mean)),
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--predictions', default=DEFAULT,
                      help='paper_predictions.csv (popularity, predictions).')
  parser.add_argument('--json', help='Also write the figures to this file.')
  args = parser.parse_args()
  popularity, predicted = _read(args.predictions)
  rows = metrics.json_safe(score(popularity, predicted))
  labels = popularity >= THRESHOLD
  (tn, fp), (fn, tp) = metrics.confusion(labels, predicted >= THRESHOLD)
  print(f'{args.predictions}: {popularity.size} tracks, '
        f'{100 * labels.mean():.1f}% with popularity >= {THRESHOLD:g}. '
        f"Authors' confusion at >= {THRESHOLD:g}: TP {tp}, FP {fp}, FN {fn}, "
        f'TN {tn}. Scored on every row, training rows included.\n')
  print(report.table(rows))
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(rows, f, indent=2, allow_nan=False)


if __name__ == '__main__':
  main()
