"""Restores a run's checkpoint and reports its metrics on a split.

  python -m spotipop.evaluate --workdir=runs/default --split=test

writes report.json (overall, per-genre and per-release-era metrics),
predictions.csv, roc.png and confusion.png under WORKDIR/eval/SPLIT-CHECKPOINT/.
"""

import csv
import json
import os

from absl import app
from absl import flags
from absl import logging
import jax
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from spotipop import checkpointing
from spotipop import logs
from spotipop import metrics
from spotipop import models
from spotipop import train
from spotipop.config import Config
from spotipop.data import catalog


def restore_run(workdir, checkpoint=checkpointing.BEST):
  """(config, dataset record, model, train state) of a run's checkpoint.

  checkpoint is 'best', 'latest' or a step number of the latest manager.
  """
  config_path = os.path.join(workdir, 'config.json')
  if not os.path.exists(config_path):
    raise FileNotFoundError(f'{workdir} is not a spotipop run: no config.json')
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
    raise ValueError(f"--checkpoint={checkpoint}: use 'best', 'latest' or a "
                     'step number')
  ckpts = checkpointing.Checkpoints(workdir)
  restored = ckpts.restore(which, like, step)
  ckpts.close()
  if restored is None:
    raise FileNotFoundError(f'{workdir}: no {which} checkpoint to restore')
  return config, dataset, model, restored[0]


def report(predictions):
  """Overall metrics plus per-genre and per-release-era breakdowns."""
  labels, probabilities = predictions['label'], predictions['probability']
  mae = float(np.mean(np.abs(predictions['score'] - predictions['popularity'])))
  return {
      'overall': {**metrics.binary_metrics(labels, probabilities),
                  'score_mae': mae},
      'confusion_matrix': metrics.confusion(labels, probabilities >= 0.5).tolist(),
      'per_genre': metrics.breakdown(predictions['genre'], labels, probabilities),
      'per_release_era': metrics.breakdown(
          metrics.release_era(predictions['release_year']), labels,
          probabilities),
  }


def plot(predictions, summary, out_dir):
  fpr, tpr = metrics.roc_curve(predictions['label'], predictions['probability'])
  fig, ax = plt.subplots(figsize=(4.5, 4.5))
  ax.plot(fpr, tpr, label=f"AUC {summary['overall']['roc_auc']:.3f}")
  ax.plot([0, 1], [0, 1], '--', color='grey')
  ax.set(xlabel='False positive rate', ylabel='True positive rate',
         title='ROC: popular vs not')
  ax.legend(loc='lower right')
  fig.tight_layout()
  fig.savefig(os.path.join(out_dir, 'roc.png'), dpi=100)
  plt.close(fig)

  matrix = np.array(summary['confusion_matrix'])
  fig, ax = plt.subplots(figsize=(4, 4))
  ax.imshow(matrix, cmap='Blues')
  for (i, j), n in np.ndenumerate(matrix):
    ax.text(j, i, str(n), ha='center', va='center',
            color='white' if n > matrix.max() / 2 else 'black')
  names = list(catalog.LABEL_NAMES)
  ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=names, yticklabels=names,
         xlabel='Predicted', ylabel='True', title='Confusion matrix')
  fig.tight_layout()
  fig.savefig(os.path.join(out_dir, 'confusion.png'), dpi=100)
  plt.close(fig)


def evaluate(workdir, split='test', checkpoint=checkpointing.BEST):
  """Evaluates a checkpoint on a split, writes the report files; returns the report.

  Every host runs it (checkpoint restores are collective); host 0 writes.
  """
  if split not in catalog.SPLITS:
    raise ValueError(f'--split={split}: use one of {catalog.SPLITS}')
  config, dataset, model, state = restore_run(workdir, checkpoint)
  builder = catalog.load(dataset['data_dir'])
  batches = train.split_batches(builder, config, split, train=False)
  predictions = train.predict_split(train.make_predict_step(model),
                                    state.params, batches)
  summary = {'split': split, 'checkpoint': str(checkpoint),
             'step': int(state.step), **report(predictions)}
  out_dir = os.path.join(workdir, 'eval', f'{split}-{checkpoint}')
  if jax.process_index():
    return summary
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'report.json'), 'w') as f:
    json.dump(summary, f, indent=2)
  with open(os.path.join(out_dir, 'predictions.csv'), 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['track_id', 'genre', 'release_year', 'popularity',
                     'label', 'probability', 'predicted_popularity'])
    for row in zip(predictions['track_id'], predictions['genre'],
                   predictions['release_year'], predictions['popularity'],
                   predictions['label'], predictions['probability'],
                   predictions['score']):
      writer.writerow([*row[:5], f'{row[5]:.4f}', f'{row[6]:.1f}'])
  plot(predictions, summary, out_dir)
  overall = summary['overall']
  logging.info('%s (%s, step %d): accuracy %.3f, precision %.3f, recall %.3f, '
               'F1 %.3f, ROC-AUC %.3f; report in %s', split, checkpoint,
               summary['step'], overall['accuracy'], overall['precision'],
               overall['recall'], overall['f1'], overall['roc_auc'], out_dir)
  return summary


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logs.quiet_libraries()
  summary = evaluate(flags.FLAGS.workdir, flags.FLAGS.split,
                     flags.FLAGS.checkpoint)
  print(json.dumps(summary['overall'], indent=2))


if __name__ == '__main__':
  flags.DEFINE_string('workdir', None, 'Run directory written by spotipop.main.')
  flags.DEFINE_enum('split', 'test', list(catalog.SPLITS), 'Split to evaluate.')
  flags.DEFINE_string('checkpoint', checkpointing.BEST,
                      "'best', 'latest' or a step number.")
  flags.mark_flag_as_required('workdir')
  app.run(main)
