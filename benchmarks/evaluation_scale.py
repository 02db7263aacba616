"""Where evaluation's time goes as the catalogue and the resamples grow.

  python benchmarks/evaluation_scale.py                  # 25k, 100k, 200k tracks
  python benchmarks/evaluation_scale.py --sizes=5000 --resamples=0,100  # quick

For each size N, a synthetic tabular catalogue of N tracks (12 features, one
of them carrying the label, 6 genres, 70/15/15 random split) is built and a
tabular model trained on it for one epoch without intervals, in a fresh
`python -m spotipop.main` each. Then, in this process, every stage of
`spotipop.evaluate` on the test split is timed alone, as
evaluation/run_report.py runs them: the model's predictions on validation and
test, the train, validation and test tables read back, the GBDT baselines
(LightGBM, the named peer: what any evaluation must at least pay to have a
tree to compare with), the report at each --resamples (0: no intervals), the
predictions CSV and the figures.
"""

import argparse
import csv
import logging
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

FEATURES = [f'f{i}' for i in range(12)]


def write_catalogue(path, count, seed=0):
  """A manifest of `count` tracks whose popularity follows f0 and noise."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(count, len(FEATURES)))
  popularity = np.clip(50 + 15 * x[:, 0] + 15 * rng.normal(size=count), 0, 100)
  genres = np.array(['pop', 'rock', 'rap', 'edm', 'latin', 'r&b'])
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['track_id', 'popularity', 'genre', 'release_year',
                     *FEATURES])
    for i in range(count):
      writer.writerow([f't{i}', f'{popularity[i]:.1f}',
                       genres[i % len(genres)], 1990 + i % 30,
                       *(f'{v:.4f}' for v in x[i])])


def train(folder, count):
  manifest = os.path.join(folder, f'catalogue_{count}.csv')
  write_catalogue(manifest, count)
  workdir = os.path.join(folder, f'run_{count}')
  subprocess.run([
      sys.executable, '-m', 'spotipop.main', f'--manifest={manifest}',
      f'--data_dir={os.path.join(folder, "tfds")}', f'--workdir={workdir}',
      '--towers=tabular_only', f'--feature_columns={",".join(FEATURES)}',
      '--log1p_columns=', '--num_epochs=1', '--batch_size=256',
      '--bootstrap=0'], cwd=REPO, check=True,
                 capture_output=True)
  return workdir


def timed(fn):
  start = time.perf_counter()
  out = fn()
  return out, time.perf_counter() - start


def profile(workdir, resamples):
  """{stage: seconds} of evaluating the test split of a trained run."""
  from spotipop.data import datasets  # pylint: disable=g-import-not-at-top
  from spotipop.evaluation import baselines  # pylint: disable=g-import-not-at-top
  from spotipop.evaluation import plots  # pylint: disable=g-import-not-at-top
  from spotipop.evaluation import run_report  # pylint: disable=g-import-not-at-top
  from spotipop.evaluation import scorecard  # pylint: disable=g-import-not-at-top
  seconds = {}
  (config, _, builder, predictions), seconds['model predictions'] = timed(
      lambda: run_report.predict_splits(workdir, 'test', 'best'))
  tables, seconds['tables read'] = timed(lambda: {
      s: datasets.read_tabular(builder, s)
      for s in ('train', 'validation', 'test')})
  fitted, seconds['GBDT baselines'] = timed(
      lambda: baselines.fit_predict(tables, config.train.seed))
  for r in resamples:
    summary, seconds[f'report, {r} resamples'] = timed(
        lambda r=r: scorecard.summarize(
            'test', predictions, fitted, config.eval.threshold_criterion, r,
            0))
  with tempfile.TemporaryDirectory() as out:
    _, seconds['predictions.csv'] = timed(lambda: run_report.write_predictions(
        os.path.join(out, 'predictions.csv'), 'test', predictions, fitted,
        summary['threshold']['value']))
    _, seconds['figures'] = timed(lambda: plots.write(
        'test', predictions, fitted, summary, out))
  return seconds, len(predictions['test']['label'])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--sizes', default='25000,100000,200000')
  parser.add_argument('--resamples', default='0,20,200,1000')
  args = parser.parse_args()
  logging.getLogger('absl').setLevel(logging.ERROR)  # Orbax's read-only notes.
  sizes = [int(s) for s in args.sizes.split(',')]
  resamples = [int(r) for r in args.resamples.split(',')]
  with tempfile.TemporaryDirectory() as folder:
    results = {}
    for count in sizes:
      workdir = train(folder, count)
      results[count] = profile(workdir, resamples)
  stages = list(results[sizes[0]][0])
  print(f'{"stage":<26}' + ''.join(f'{f"{n:,} tracks":>15}' for n in sizes))
  print(f'{"(test tracks)":<26}' + ''.join(
      f'{f"({results[n][1]:,})":>15}' for n in sizes))
  for stage in stages:
    print(f'{stage:<26}' + ''.join(f'{results[n][0][stage]:>14.2f}s'
                                   for n in sizes))
  for n in sizes:
    seconds = results[n][0]
    gbdt = seconds['GBDT baselines']
    largest = max(seconds, key=seconds.get)
    print(f'{n:,} tracks: {largest} is the largest part '
          f'({seconds[largest]:.1f} s); against the GBDT fit (the peer): '
          + ', '.join(f'{r} resamples x{seconds[f"report, {r} resamples"] / gbdt:.2f}'
                      for r in resamples))


if __name__ == '__main__':
  main()
