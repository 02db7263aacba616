"""Evaluation reports: the model next to its baselines, on the same split.

Each predictor's popular/not threshold is chosen on the validation split (by
--threshold_criterion) and then applied unchanged to the evaluated split, so
no figure is tuned on the data it is reported on.

  python -m spotipop.report runs/spotify32k_random runs/spotify32k_group ...

prints the side-by-side test tables of finished runs as markdown.
"""

import json
import os

from spotipop import cli
from spotipop import errors
from spotipop import metrics

# Columns of the side-by-side table: (report key, heading, format).
COLUMNS = (
    ('roc_auc', 'ROC-AUC', '.3f'), ('average_precision', 'PR-AUC', '.3f'),
    ('mcc', 'MCC', '.3f'), ('balanced_accuracy', 'bal. acc.', '.3f'),
    ('f1', 'F1', '.3f'), ('accuracy', 'accuracy', '.3f'),
    ('brier', 'Brier', '.3f'), ('mae', 'MAE', '.2f'), ('rmse', 'RMSE', '.2f'),
    ('r2', 'R²', '.3f'), ('spearman', 'Spearman', '.3f'),
)
LABELS = {'model': 'spotipop', 'gbdt': 'GBDT (LightGBM)',
          'always_popular': 'always popular', 'train_prior': 'train prior',
          'train_mean_popularity': 'train mean popularity'}


def _scored(by_split, split, labels, popularity, val_labels, criterion):
  """Metrics of one predictor on `split`, its threshold chosen on validation.

  by_split[split] and by_split['validation'] hold 'probability' and 'score'
  arrays; either may be None (a baseline that predicts only one of them).
  """
  evaluated, validation = by_split[split], by_split['validation']
  out = {}
  if evaluated['probability'] is not None:
    threshold = metrics.choose_threshold(val_labels, validation['probability'],
                                         criterion)
    out.update(metrics.classification_metrics(
        labels, evaluated['probability'], threshold), threshold=threshold)
  if evaluated['score'] is not None:
    out.update(metrics.score_metrics(popularity, evaluated['score']))
  return out


def summarize(split, model, baselines, criterion):
  """The report of a split: model metrics, breakdowns and baseline rows.

  model: {'validation': ..., split: ...} per-example arrays from
  inference.predict_split; baselines: baselines.fit_predict's output, in the same
  example order.
  """
  evaluated = model[split]
  args = (split, evaluated['label'], evaluated['popularity'],
          model['validation']['label'], criterion)
  overall = _scored(model, *args)
  threshold = overall['threshold']
  labels, probabilities = evaluated['label'], evaluated['probability']
  return metrics.json_safe({
      'threshold': {'value': threshold, 'criterion': criterion,
                    'chosen_on': 'validation'},
      'overall': overall,
      'baselines': {name: _scored(by_split, *args)
                    for name, by_split in baselines.items()},
      'confusion_matrix': metrics.confusion(
          labels, probabilities >= threshold).tolist(),
      'calibration': metrics.reliability(labels, probabilities),
      'per_genre': metrics.breakdown(evaluated['genre'], labels,
                                     probabilities, threshold),
      'per_release_era': metrics.breakdown(
          metrics.release_era(evaluated['release_year']), labels,
          probabilities, threshold),
  })


def cell(value, fmt='.3f'):
  """A report value as text; '—' where it is undefined (null)."""
  return '—' if value is None else format(value, fmt)


def rows(summary):
  """{predictor: metrics}: the model, then every baseline."""
  return {'model': summary['overall'], **summary['baselines']}


def table(rows_by_name):
  """Markdown table, one row per predictor; '—' where a metric does not apply."""
  lines = ['| predictor | ' + ' | '.join(h for _, h, _ in COLUMNS) + ' |',
           '| --- ' * (len(COLUMNS) + 1) + '|']
  for name, row in rows_by_name.items():
    cells = [cell(row.get(key), fmt) for key, _, fmt in COLUMNS]
    lines.append(f'| {LABELS.get(name, name)} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def headline(summary):
  """One line: what was evaluated, its class balance and the threshold."""
  overall, threshold = summary['overall'], summary['threshold']
  return (f"{summary['split']} split, {overall['count']} tracks "
          f"({100 * overall['positive_rate']:.1f}% popular), "
          f"{summary['checkpoint']} checkpoint (step {summary['step']}); "
          f"threshold {threshold['value']:.3f} (max {threshold['criterion']} "
          f"on {threshold['chosen_on']})")


def main(argv):
  """Prints the test table of each workdir given on the command line."""
  if len(argv) < 2:
    raise errors.SpotipopError('usage: python -m spotipop.report WORKDIR '
                               '[WORKDIR ...]')
  for workdir in argv[1:]:
    path = os.path.join(workdir, 'eval', 'test-best', 'report.json')
    try:
      with open(path) as f:
        summary = json.load(f)
    except (OSError, ValueError) as e:
      raise errors.SpotipopError(f'{path}: {e}') from None
    print(f'### {os.path.basename(os.path.normpath(workdir))}\n\n'
          f'{headline(summary)}\n\n{table(rows(summary))}\n')


if __name__ == '__main__':
  cli.run(main, 'spotipop.report', takes_arguments=True)
