"""A run's report on a split: restore a checkpoint, score the split beside the
baselines, and write the report files (`python -m spotipop.evaluate`).

Writes report.json (the model's metrics at a threshold chosen on the
validation split, next to the baselines' on the same split, each with its
bootstrap interval, and the model's paired comparison with each baseline;
per-genre and per-release-era breakdowns; calibration), predictions.csv, roc.png,
calibration.png and confusion.png under WORKDIR/eval/SPLIT-CHECKPOINT/.
"""

import csv
import json
import os

from absl import logging
import jax
import numpy as np

from spotipop import errors
from spotipop.data import catalog
from spotipop.data import datasets
from spotipop.data import popularity
from spotipop.evaluation import baselines
from spotipop.evaluation import plots
from spotipop.evaluation import scorecard
from spotipop.model import inference
from spotipop.run import checkpointing
from spotipop.run import workdir as workdir_lib
from spotipop.storage import atomic_files
from spotipop.storage import user_strings


def predict_splits(workdir, split, checkpoint):
  """(config, state, builder, {split: predictions}) for `split` and validation.

  Validation is always predicted: the decision threshold is chosen there.
  """
  config, dataset, model, state = workdir_lib.restore_run(workdir, checkpoint)
  builder = datasets.load(dataset['data_dir'])
  p_predict = inference.make_predict_step(model)
  predictions = {
      s: inference.predict_split(
          p_predict, state.params,
          inference.split_batches(builder, config, s, train=False))
      for s in dict.fromkeys(('validation', split))}
  return config, state, builder, predictions


def fit_baselines(builder, predictions, seed):
  """Baseline predictions on the same splits, in the model's example order."""
  tables = {s: datasets.read_tabular(builder, s)
            for s in dict.fromkeys(('train', *predictions))}
  for s, p in predictions.items():
    if not np.array_equal(tables[s]['track_id'], p['track_id']):
      raise RuntimeError(f'{s}: baseline and model examples are not aligned')
  return baselines.fit_predict(tables, seed)


def write_predictions(path, split, predictions, baseline_predictions,
                      threshold):
  """Per-track CSV: truth, the model's outputs and the GBDT's; ids, groups
  and genres as text a spreadsheet will not run (user_strings.csv_cell)."""
  p, gbdt = predictions[split], baseline_predictions['gbdt'][split]
  with atomic_files.replaced(path, newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['track_id', 'group', 'genre', 'release_year',
                     'popularity', 'label', 'probability', 'predicted_label',
                     'predicted_popularity', 'gbdt_probability',
                     'gbdt_popularity'])
    for i, track_id in enumerate(p['track_id']):
      writer.writerow(user_strings.csv_row([
          track_id, p['group'][i], p['genre'][i], p['release_year'][i],
          p['popularity'][i], p['label'][i], f"{p['probability'][i]:.4f}",
          int(p['probability'][i] >= threshold), f"{p['score'][i]:.1f}",
          f"{gbdt['probability'][i]:.4f}", f"{gbdt['score'][i]:.1f}"]))


def evaluate(workdir, split='test', checkpoint=checkpointing.BEST,
             bootstrap=None, bootstrap_seed=None, out_dir=None):
  """Evaluates a checkpoint and the baselines on a split; writes the report files.

  Every host runs the model (checkpoint restores are collective); host 0 fits
  the baselines, writes the files and returns the report, the others None.
  bootstrap, bootstrap_seed: the resamples behind the intervals and their
  seed (default: the run's --bootstrap and --bootstrap_seed). out_dir:
  where the files go (default: workdir_lib.eval_dir), checked before the
  model runs.
  """
  if split not in catalog.SPLITS:
    raise errors.SpotipopError(f'--split={split}: use one of {catalog.SPLITS}')
  workdir_lib.read_config(workdir)  # Not a run: say so, create nothing.
  out_dir = out_dir or workdir_lib.eval_dir(workdir, split, checkpoint)
  if jax.process_index() == 0:
    atomic_files.check_writable_folder(out_dir, '--out')
  config, state, builder, predictions = predict_splits(workdir, split,
                                                       checkpoint)
  if jax.process_index():
    return None
  baseline_predictions = fit_baselines(builder, predictions, config.train.seed)
  groups = (predictions[split]['group'] if config.data.split == 'group'
            else None)  # Tracks of one group are not independent draws.
  summary = {'checkpoint': str(checkpoint), 'step': int(state.step),
             # What 'popular' means for this run (a count's percentile, ...).
             'label': popularity.describe(config.data),
             **scorecard.summarize(
                 split, predictions, baseline_predictions,
                 config.eval.threshold_criterion,
                 config.eval.bootstrap if bootstrap is None else bootstrap,
                 (config.eval.bootstrap_seed if bootstrap_seed is None
                  else bootstrap_seed), groups)}
  with atomic_files.replaced(os.path.join(out_dir, 'report.json')) as f:
    json.dump(summary, f, indent=2, allow_nan=False)
  write_predictions(os.path.join(out_dir, 'predictions.csv'), split,
                    predictions, baseline_predictions,
                    summary['threshold']['value'])
  plots.write(split, predictions, baseline_predictions, summary, out_dir)
  logging.info('Report in %s', out_dir)
  return summary
