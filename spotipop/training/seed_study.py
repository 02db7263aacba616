"""One experiment over several training seeds and several splits
(`python -m spotipop.replicates`).

Trains and evaluates (test split, best checkpoint, with its bootstrap
intervals) one run per training seed on the flagfile's split, and one per
split seed with the flagfile's training seed, each in its own workdir:
WORKDIR/seedS_splitK (the run of both flagfile seeds serves both). Re-running
resumes each run where it stopped; finished runs are read back, not redone.

Summarises, for each source of variance, the mean, standard deviation and range
across its runs of the model's and the GBDT's test metrics and of their
difference, beside the mean half-width of one run's bootstrap interval: a
reader sees whether the seed, the split or the test sample moves a figure
most; WORKDIR/replicates.json keeps it.
"""

import dataclasses
import json
import os

from absl import logging
import numpy as np

from spotipop import errors
from spotipop.evaluation import metrics
from spotipop.evaluation import run_report
from spotipop.run import workdir as workdir_lib
from spotipop.storage import atomic_files
from spotipop.training import loop

METRICS = (('roc_auc', 'ROC-AUC'), ('average_precision', 'PR-AUC'),
           ('mcc', 'MCC'), ('brier', 'Brier'), ('mae', 'MAE'), ('r2', 'R²'))


def run_name(train_seed, split_seed):
  return f'seed{train_seed}_split{split_seed}'


def plan(config, train_seeds, split_seeds):
  """{source: [(run name, config)]}: the training seeds on the flagfile's
  split, and the split seeds with the flagfile's training seed."""
  for flag, seeds in (('train_seeds', train_seeds),
                      ('split_seeds', split_seeds)):
    repeated = sorted({s for s in seeds if list(seeds).count(s) > 1})
    if repeated:
      raise errors.FlagError(
          f'--{flag}: {", ".join(map(str, repeated))} given more than once; '
          'a seed is one run, and a run counted twice shrinks the spread')
  if config.data.split == 'time' and len(split_seeds) > 1:
    raise errors.FlagError('--split_seeds: a time split holds out the newest '
                           'releases whatever the seed; give one')

  def variant(train_seed, split_seed):
    return run_name(train_seed, split_seed), dataclasses.replace(
        config, train=dataclasses.replace(config.train, seed=train_seed),
        data=dataclasses.replace(config.data, split_seed=split_seed))
  return {
      'training seed': [variant(s, config.data.split_seed)
                        for s in train_seeds],
      'split seed': [variant(config.train.seed, s) for s in split_seeds],
  }


def run(config, workdir):
  """Trains (or resumes) one run and returns its test report."""
  progress = loop.train_and_evaluate(config, workdir)
  if progress['best_step'] is None:
    raise errors.TrainingDivergedError(f'{workdir}: no best checkpoint')
  path = os.path.join(workdir_lib.eval_dir(workdir, 'test', 'best'),
                      'report.json')
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  return run_report.evaluate(workdir, 'test')


def _spread(values):
  values = np.array([np.nan if v is None else v for v in values], np.float64)
  return {'mean': float(np.mean(values)),
          'std': float(np.std(values, ddof=1)) if len(values) > 1 else None,
          'min': float(np.min(values)), 'max': float(np.max(values)),
          'runs': len(values)}


def aggregate(reports):
  """{metric: spread of the model, the GBDT, their difference, and the mean
  bootstrap half-width of the model's interval} over a list of reports."""
  out = {}
  for metric, _ in METRICS:
    model = [r['overall'].get(metric) for r in reports]
    gbdt = [r['baselines']['gbdt'].get(metric) for r in reports]
    widths = [(b[1] - b[0]) / 2 for r in reports
              if (b := r['overall'].get('intervals', {}).get(metric))]
    out[metric] = {
        'model': _spread(model), 'gbdt': _spread(gbdt),
        'difference': _spread([None if m is None or g is None else m - g
                               for m, g in zip(model, gbdt)]),
        'bootstrap_half_width': float(np.mean(widths)) if widths else None}
  return metrics.json_safe(out)


def _figure(spread):
  if spread['mean'] is None:
    return '—'
  sd = '' if spread['std'] is None else f" ± {spread['std']:.3f}"
  return (f"{spread['mean']:.3f}{sd} [{spread['min']:.3f}, "
          f"{spread['max']:.3f}]")


def table(summary):
  """Markdown: one row per source of variance and metric."""
  lines = ['| varied | runs | metric | spotipop mean ± sd [range] | '
           'GBDT mean ± sd [range] | spotipop - GBDT | bootstrap ± |',
           '| --- ' * 7 + '|']
  for source, by_metric in summary.items():
    for metric, heading in METRICS:
      row = by_metric[metric]
      width = row['bootstrap_half_width']
      lines.append(
          f"| {source} | {row['model']['runs']} | {heading} | "
          f"{_figure(row['model'])} | {_figure(row['gbdt'])} | "
          f"{_figure(row['difference'])} | "
          f"{'—' if width is None else format(width, '.3f')} |")
  return '\n'.join(lines)


def replicate(config, workdir, train_seeds, split_seeds):
  """Trains and evaluates every run of the plan; writes and returns the
  summary, {source: {metric: spread}}."""
  runs = plan(config, train_seeds, split_seeds)
  reports = {}
  for source, variants in runs.items():
    for name, variant in variants:
      if name not in reports:
        logging.info('Run %s (%s)', name, source)
        reports[name] = run(variant, os.path.join(workdir, name))
  summary = {source: aggregate([reports[name] for name, _ in variants])
             for source, variants in runs.items()}
  with atomic_files.replaced(os.path.join(workdir, 'replicates.json')) as f:
    json.dump({'runs': {name: reports[name]['overall'] for name in reports},
               'summary': summary}, f, indent=2, allow_nan=False)
  return summary
