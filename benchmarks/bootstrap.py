"""What the bootstrap intervals cost: spotipop.evaluate with and without them,
and spotipop's resampling against scipy.stats.bootstrap on one metric.

  python benchmarks/bootstrap.py --workdir=runs/spotify32k [--rounds=2]

1. `python -m spotipop.evaluate` on a copy of a finished run (the run itself
   is only read), with --bootstrap=0 and with 1,000 resamples, in turn, each
   `--rounds` times; the fastest of each is kept. The difference is what the
   intervals of every metric of the model and the four baselines, and the
   model's paired comparisons, add to the tool.
2. The test split's ROC-AUC interval alone from 1,000 resamples of its
   tracks: spotipop.uncertainty (which computes every classification
   metric of each resample at once) against scipy.stats.bootstrap
   (percentile method, paired over labels and scores, one resample at a
   time through spotipop.metrics.roc_auc). Both intervals are printed.
"""

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def evaluate_seconds(workdir, bootstrap):
  start = time.perf_counter()
  subprocess.run([sys.executable, '-m', 'spotipop.evaluate',
                  f'--workdir={workdir}', f'--bootstrap={bootstrap}'],
                 cwd=REPO, check=True, capture_output=True)
  return time.perf_counter() - start


def roc_auc_intervals(predictions_csv, resamples=1000):
  """(seconds, interval) of spotipop's and scipy's ROC-AUC bootstrap."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  from spotipop.evaluation import metrics  # pylint: disable=g-import-not-at-top
  from spotipop.evaluation import uncertainty  # pylint: disable=g-import-not-at-top
  with open(predictions_csv, newline='') as f:
    rows = list(csv.DictReader(f))
  labels = np.array([int(r['label']) for r in rows], bool)
  probability = np.array([float(r['probability']) for r in rows])
  start = time.perf_counter()
  w = uncertainty.multiplicities(len(labels), resamples, seed=0)
  ours = uncertainty.interval(uncertainty.metric_samples(
      w, labels, None, {'probability': probability,
                        'threshold': 0.5})['roc_auc'])
  ours_seconds = time.perf_counter() - start
  start = time.perf_counter()
  theirs = stats.bootstrap(
      (labels, probability), metrics.roc_auc, paired=True, vectorized=False,
      n_resamples=resamples, method='percentile',
      rng=np.random.default_rng(0)).confidence_interval
  theirs_seconds = time.perf_counter() - start
  return {'tracks': len(labels),
          'spotipop': {'seconds': ours_seconds, 'interval': ours},
          'scipy': {'seconds': theirs_seconds,
                    'interval': [float(theirs.low), float(theirs.high)]}}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', required=True,
                      help='A finished run (python -m spotipop.main).')
  parser.add_argument('--rounds', type=int, default=2)
  parser.add_argument('--json', help='Also write the figures to this file.')
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as folder:
    copy = os.path.join(folder, 'run')
    shutil.copytree(args.workdir, copy)
    seconds = {0: [], 1000: []}
    for _ in range(args.rounds):
      for bootstrap in seconds:
        seconds[bootstrap].append(evaluate_seconds(copy, bootstrap))
    peers = roc_auc_intervals(os.path.join(copy, 'eval', 'test-best',
                                           'predictions.csv'))
  without, with_ = min(seconds[0]), min(seconds[1000])
  print(f'spotipop.evaluate on {args.workdir} (best of {args.rounds}): '
        f'{without:.1f} s without intervals, {with_:.1f} s with 1000 '
        f'resamples: +{with_ - without:.1f} s '
        f'({100 * (with_ / without - 1):+.1f}%)')
  print(f"ROC-AUC interval of {peers['tracks']} test tracks, 1000 resamples:")
  for name in ('spotipop', 'scipy'):
    low, high = peers[name]['interval']
    print(f"  {name:8s} {peers[name]['seconds']:7.2f} s  [{low:.4f}, "
          f'{high:.4f}]')
  print('  (spotipop computes every classification metric of each resample '
        'in that time; scipy only the ROC-AUC)')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'evaluate_seconds': seconds, 'roc_auc': peers}, f, indent=2)


if __name__ == '__main__':
  main()
