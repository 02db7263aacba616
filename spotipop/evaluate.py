"""Restores a run's checkpoint and reports its metrics on a split.

  python -m spotipop.evaluate --workdir=runs/default --split=test

writes report.json (the model's metrics at a threshold chosen on the
validation split, next to the baselines' on the same split; per-genre and
per-release-era breakdowns; calibration), predictions.csv, roc.png,
calibration.png and confusion.png under WORKDIR/eval/SPLIT-CHECKPOINT/, and
prints the model-vs-baselines table.
"""

import contextlib
import csv
import json
import os

from absl import flags
from absl import logging
import jax
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from spotipop import baselines
from spotipop import checkpointing
from spotipop import cli
from spotipop import errors
from spotipop import metrics
from spotipop import models
from spotipop import report
from spotipop import train
from spotipop.config import Config
from spotipop.data import catalog


def restore_run(workdir, checkpoint=checkpointing.BEST):
  """(config, dataset record, model, train state) of a run's checkpoint.

  checkpoint is 'best', 'latest' or a step number of the latest manager.
  """
  config_path = os.path.join(workdir, 'config.json')
  if not os.path.exists(config_path):
    raise errors.CheckpointError(
        f'{workdir} is not a spotipop run: it has no config.json')
  with open(config_path) as f:
    config = Config.from_json(f.read())
  with open(os.path.join(workdir, 'dataset.json')) as f:
    dataset = json.load(f)
  model = models.create(config, len(dataset['genre_vocab']))
  like = train.create_train_state(config, model, jax.random.key(0),
                                  steps_per_epoch=1)
  which, step = ((checkpointing.LATEST, int(checkpoint))
                 if str(checkpoint).isdigit() else (checkpoint, None))
  if which not in (checkpointing.LATEST, checkpointing.BEST):
    raise errors.CheckpointError(f"--checkpoint={checkpoint}: use 'best', "
                                 "'latest' or a step number")
  with contextlib.closing(checkpointing.Checkpoints(workdir)) as ckpts:
    restored = ckpts.restore(which, like, step)
  if restored is None:
    raise errors.CheckpointError(
        f'{os.path.join(workdir, "checkpoints", which)}: no checkpoint yet '
        '(training saves the first at the end of epoch 1)')
  return config, dataset, model, restored[0]


def predict_splits(workdir, split, checkpoint):
  """(config, state, builder, {split: predictions}) for `split` and validation.

  Validation is always predicted: the decision threshold is chosen there.
  """
  config, dataset, model, state = restore_run(workdir, checkpoint)
  builder = catalog.load(dataset['data_dir'])
  p_predict = train.make_predict_step(model)
  predictions = {
      s: train.predict_split(p_predict, state.params,
                             train.split_batches(builder, config, s, train=False))
      for s in dict.fromkeys(('validation', split))}
  return config, state, builder, predictions


def fit_baselines(builder, predictions, seed):
  """Baseline predictions on the same splits, in the model's example order."""
  tables = {s: baselines.read_split(builder, s)
            for s in dict.fromkeys(('train', *predictions))}
  for s, p in predictions.items():
    if not np.array_equal(tables[s]['track_id'], p['track_id']):
      raise RuntimeError(f'{s}: baseline and model examples are not aligned')
  return baselines.fit_predict(tables, seed)


def plot(split, predictions, baseline_predictions, summary, out_dir):
  """roc.png and calibration.png (model and GBDT), confusion.png (model)."""
  curves = {'spotipop': (predictions[split]['probability'],
                         summary['overall']),
            'GBDT': (baseline_predictions['gbdt'][split]['probability'],
                     summary['baselines']['gbdt'])}
  labels = predictions[split]['label']
  fig, ax = plt.subplots(figsize=(4.5, 4.5))
  for name, (probability, scores) in curves.items():
    fpr, tpr = metrics.roc_curve(labels, probability)
    ax.plot(fpr, tpr, label=f"{name} AUC {report.cell(scores['roc_auc'])}")
  ax.plot([0, 1], [0, 1], '--', color='grey', label='class prior 0.500')
  ax.set(xlabel='False positive rate', ylabel='True positive rate',
         title='ROC: popular vs not')
  ax.legend(loc='lower right')
  _save(fig, out_dir, 'roc.png')

  fig, ax = plt.subplots(figsize=(4.5, 4.5))
  for name, (probability, scores) in curves.items():
    bins = metrics.reliability(labels, probability)
    ax.plot([b['mean_probability'] for b in bins],
            [b['observed_rate'] for b in bins], 'o-',
            label=f"{name} Brier {report.cell(scores['brier'])}")
  ax.plot([0, 1], [0, 1], '--', color='grey', label='perfectly calibrated')
  ax.set(xlabel='Mean predicted probability (10 bins)',
         ylabel='Observed popular rate', title='Reliability')
  ax.legend(loc='upper left')
  _save(fig, out_dir, 'calibration.png')

  matrix = np.array(summary['confusion_matrix'])
  fig, ax = plt.subplots(figsize=(4, 4))
  ax.imshow(matrix, cmap='Blues')
  for (i, j), n in np.ndenumerate(matrix):
    ax.text(j, i, str(n), ha='center', va='center',
            color='white' if n > matrix.max() / 2 else 'black')
  names = list(catalog.LABEL_NAMES)
  ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=names, yticklabels=names,
         xlabel='Predicted', ylabel='True',
         title=f"Confusion at threshold {summary['threshold']['value']:.3f}")
  _save(fig, out_dir, 'confusion.png')


def _save(fig, out_dir, name):
  fig.tight_layout()
  fig.savefig(os.path.join(out_dir, name), dpi=100)
  plt.close(fig)


def write_predictions(path, split, predictions, baseline_predictions,
                      threshold):
  """Per-track CSV: truth, the model's outputs and the GBDT's."""
  p, gbdt = predictions[split], baseline_predictions['gbdt'][split]
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['track_id', 'group', 'genre', 'release_year',
                     'popularity', 'label', 'probability', 'predicted_label',
                     'predicted_popularity', 'gbdt_probability',
                     'gbdt_popularity'])
    for i, track_id in enumerate(p['track_id']):
      writer.writerow([
          track_id, p['group'][i], p['genre'][i], p['release_year'][i],
          p['popularity'][i], p['label'][i], f"{p['probability'][i]:.4f}",
          int(p['probability'][i] >= threshold), f"{p['score'][i]:.1f}",
          f"{gbdt['probability'][i]:.4f}", f"{gbdt['score'][i]:.1f}"])


def evaluate(workdir, split='test', checkpoint=checkpointing.BEST):
  """Evaluates a checkpoint and the baselines on a split; writes the report files.

  Every host runs the model (checkpoint restores are collective); host 0 fits
  the baselines, writes the files and returns the report, the others None.
  """
  if split not in catalog.SPLITS:
    raise errors.SpotipopError(f'--split={split}: use one of {catalog.SPLITS}')
  config, state, builder, predictions = predict_splits(workdir, split,
                                                       checkpoint)
  if jax.process_index():
    return None
  baseline_predictions = fit_baselines(builder, predictions, config.train.seed)
  summary = {'split': split, 'checkpoint': str(checkpoint),
             'step': int(state.step),
             **report.summarize(split, predictions, baseline_predictions,
                                config.eval.threshold_criterion)}
  out_dir = os.path.join(workdir, 'eval', f'{split}-{checkpoint}')
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'report.json'), 'w') as f:
    json.dump(summary, f, indent=2, allow_nan=False)
  write_predictions(os.path.join(out_dir, 'predictions.csv'), split,
                    predictions, baseline_predictions,
                    summary['threshold']['value'])
  plot(split, predictions, baseline_predictions, summary, out_dir)
  logging.info('Report in %s', out_dir)
  return summary


def main(argv):
  del argv
  summary = evaluate(flags.FLAGS.workdir, flags.FLAGS.split,
                     flags.FLAGS.checkpoint)
  if summary:
    print(f'{report.headline(summary)}\n{report.table(report.rows(summary))}')


if __name__ == '__main__':
  flags.DEFINE_string('workdir', None, 'Run directory written by spotipop.main.')
  flags.DEFINE_enum('split', 'test', list(catalog.SPLITS), 'Split to evaluate.')
  flags.DEFINE_string('checkpoint', checkpointing.BEST,
                      "'best', 'latest' or a step number.")
  flags.mark_flag_as_required('workdir')
  cli.run(main, 'spotipop.evaluate')
