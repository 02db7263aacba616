"""Scores the seed paper's published predictions next to trivial baselines.

  python benchmarks/paper_claims.py [--predictions=PATH] [--json=OUT]
      [--bootstrap=1000]

Falah, Yousefimehr & Ghatee (2025) report F1 0.97. Their published per-track
predictions (a 0-100 popularity for every track of their table, training rows
included) are scored here as the paper scores them: popular means popularity
>= 50, and a track is predicted popular when its predicted popularity is >= 50.
Beside them: predicting "popular" for every track, the median popularity for
every track, and the mean. The honest metrics (MCC, balanced accuracy, ROC-AUC,
PR-AUC against the positive rate, R^2, Spearman) show how much of the 97% is the
class prior. Every figure carries its 95% bootstrap interval over the table's
artists (a resample draws whole artists: one artist's tracks are not
independent), and the authors' predictions are compared with always-popular
(F1, accuracy, MCC) and the median (MAE) on the same resamples.
"""

import argparse
import csv
import json
import os

import numpy as np

from spotipop.evaluation import metrics
from spotipop.evaluation import scorecard
from spotipop.evaluation import uncertainty

DEFAULT = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'data',
    'falah2025', 'paper_predictions.csv'))
THRESHOLD = 50.0


def _read(path):
  with open(path, newline='', encoding='utf-8-sig') as f:
    rows = list(csv.DictReader(f))
  popularity = np.array([float(r['popularity']) for r in rows])
  predicted = np.array([float(r['predictions']) for r in rows])
  artists = np.array([r['artist'] for r in rows])
  return popularity, predicted, artists


def _as_probability(predicted_popularity):
  """The scores the AUCs rank: predicted popularity on [0, 1]."""
  return np.clip(predicted_popularity / 100.0, 0.0, 1.0)


def _classification(labels, predicted_popularity):
  """The paper's decision (>= 50); ranks by predicted popularity for the AUCs.

  Brier is left out: a predicted popularity is not a probability.
  """
  out = metrics.classification_metrics(
      labels, _as_probability(predicted_popularity), THRESHOLD / 100.0)
  del out['brier']
  return out


def _predictors(popularity, predicted):
  """{name: (predicted popularity, scored as a popular/not call, scored as
  a popularity)} of the authors and the baselines."""
  n = popularity.size
  median, mean = float(np.median(popularity)), float(popularity.mean())
  return {"authors' predictions": (predicted, True, True),
          'always popular': (np.full(n, 100.0), True, False),
          f'median popularity ({median:g})': (np.full(n, median), True, True),
          f'mean popularity ({mean:.1f})': (np.full(n, mean), False, True)}


def score(popularity, predicted, groups=None, resamples=0, seed=0):
  """{predictor: metrics} for the authors' predictions and the baselines;
  with resamples, each metric's interval and the paired comparisons."""
  labels = popularity >= THRESHOLD
  rows, outputs = {}, {}
  for name, (values, classifies, regresses) in _predictors(
      popularity, predicted).items():
    row, output = {}, {}
    if classifies:
      row.update(_classification(labels, values))
      output.update(probability=_as_probability(values),
                    threshold=THRESHOLD / 100.0)
    if regresses:
      row.update(metrics.score_metrics(popularity, values))
      output['score'] = values
    rows[name], outputs[name] = row, output
  if not resamples:
    return rows, {}
  w = uncertainty.multiplicities(popularity.size, resamples, seed, groups)
  samples = uncertainty.predictors_samples(w, labels, popularity, outputs)
  for name, row in rows.items():
    row['intervals'] = {m: uncertainty.interval(v)
                        for m, v in samples[name].items()
                        if m in row and m != 'count'}
  authors, prior, median = list(rows)[:3]
  comparisons = {
      f'{metric}: authors - {other}': {
          'difference': rows[authors][metric] - rows[other][metric],
          **uncertainty.paired(samples[authors][metric],
                               samples[other][metric], higher)}
      for metric, other, higher in (('f1', prior, True),
                                    ('accuracy', prior, True),
                                    ('mcc', prior, True),
                                    ('mae', median, False))}
  return rows, comparisons


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--predictions', default=DEFAULT,
                      help='paper_predictions.csv (popularity, predictions).')
  parser.add_argument('--json', help='Also write the figures to this file.')
  parser.add_argument('--bootstrap', type=int, default=1000,
                      help='Resamples of the artists behind the intervals.')
  args = parser.parse_args()
  popularity, predicted, artists = _read(args.predictions)
  rows, comparisons = metrics.json_safe(score(
      popularity, predicted, artists, args.bootstrap))
  labels = popularity >= THRESHOLD
  (tn, fp), (fn, tp) = metrics.confusion(labels, predicted >= THRESHOLD)
  print(f'{args.predictions}: {popularity.size} tracks, '
        f'{100 * labels.mean():.1f}% with popularity >= {THRESHOLD:g}. '
        f"Authors' confusion at >= {THRESHOLD:g}: TP {tp}, FP {fp}, FN {fn}, "
        f'TN {tn}. Scored on every row, training rows included.\n')
  print(scorecard.table(rows))
  if comparisons:
    print(f'\n95% intervals from {args.bootstrap} resamples of the '
          f'{len(set(artists))} artists. Paired differences:')
  for name, c in comparisons.items():
    print(f"  {name}: {c['difference']:+.3f} [{c['interval'][0]:+.3f}, "
          f"{c['interval'][1]:+.3f}], p = {c['p_value']:.3g} ({c['verdict']})")
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'predictors': rows, 'comparisons': comparisons}, f,
                indent=2, allow_nan=False)


if __name__ == '__main__':
  main()
