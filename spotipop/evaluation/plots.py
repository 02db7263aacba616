"""The evaluation report's figures: ROC, reliability and confusion."""

import os

import numpy as np

from spotipop.data import catalog
from spotipop.evaluation import metrics
from spotipop.evaluation import scorecard
from spotipop.storage import atomic_files


def pyplot():
  """matplotlib.pyplot, drawing to files only (the Agg backend).

  Imported when a figure is drawn: matplotlib is slow to import
  (benchmarks/startup.py), and every tool start would pay it, a run that
  stops at a bad flag included.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def write(split, predictions, baseline_predictions, summary, out_dir):
  """roc.png and calibration.png (model and GBDT), confusion.png (model)."""
  curves = {'spotipop': (predictions[split]['probability'],
                         summary['overall']),
            'GBDT': (baseline_predictions['gbdt'][split]['probability'],
                     summary['baselines']['gbdt'])}
  labels = predictions[split]['label']
  fig, ax = pyplot().subplots(figsize=(4.5, 4.5))
  for name, (probability, scores) in curves.items():
    fpr, tpr = metrics.roc_curve(labels, probability)
    ax.plot(fpr, tpr, label=f"{name} AUC {scorecard.cell(scores['roc_auc'])}")
  ax.plot([0, 1], [0, 1], '--', color='grey', label='class prior 0.500')
  ax.set(xlabel='False positive rate', ylabel='True positive rate',
         title='ROC: popular vs not')
  ax.legend(loc='lower right')
  save(fig, os.path.join(out_dir, 'roc.png'))

  fig, ax = pyplot().subplots(figsize=(4.5, 4.5))
  for name, (probability, scores) in curves.items():
    bins = metrics.reliability(labels, probability)
    ax.plot([b['mean_probability'] for b in bins],
            [b['observed_rate'] for b in bins], 'o-',
            label=f"{name} Brier {scorecard.cell(scores['brier'])}")
  ax.plot([0, 1], [0, 1], '--', color='grey', label='perfectly calibrated')
  ax.set(xlabel='Mean predicted probability (10 bins)',
         ylabel='Observed popular rate', title='Reliability')
  ax.legend(loc='upper left')
  save(fig, os.path.join(out_dir, 'calibration.png'))

  matrix = np.array(summary['confusion_matrix'])
  fig, ax = pyplot().subplots(figsize=(4, 4))
  ax.imshow(matrix, cmap='Blues')
  for (i, j), n in np.ndenumerate(matrix):
    ax.text(j, i, str(n), ha='center', va='center',
            color='white' if n > matrix.max() / 2 else 'black')
  names = list(catalog.LABEL_NAMES)
  ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=names, yticklabels=names,
         xlabel='Predicted', ylabel='True',
         title=f"Confusion at threshold {summary['threshold']['value']:.3f}")
  save(fig, os.path.join(out_dir, 'confusion.png'))


def save(fig, path):
  """Writes a figure as a PNG, whole or not at all, and closes it."""
  fig.tight_layout()
  with atomic_files.replaced(path, 'wb') as f:
    fig.savefig(f, format='png', dpi=100)
  pyplot().close(fig)
