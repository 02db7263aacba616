"""Evaluation reports: the model next to its baselines, on the same split.

Each predictor's popular/not threshold is chosen on the validation split (by
--threshold_criterion) and then applied unchanged to the evaluated split, so
no figure is tuned on the data it is reported on. The summary is report.json;
headline(), verdicts() and table() are how the tools print it.
"""

import numpy as np

from spotipop.evaluation import metrics
from spotipop.evaluation import uncertainty

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


# Fewer test tracks than this of a class, and the ranking metrics (ROC-AUC,
# PR-AUC, MCC) of the split cannot tell models apart: their comparisons'
# verdict is 'cannot rank', whatever their resamples suggest.
MIN_CLASS_TRACKS = 10
RANKING_METRICS = ('roc_auc', 'average_precision', 'mcc')
# Fewer resampled units (test tracks, or groups on a group split) than this,
# and no bootstrap of the split decides anything: with 2 tracks every
# resample is one of 3 and an interval is their spread, not a confidence.
# Every comparison's verdict is then 'cannot decide'.
MIN_RESAMPLED_UNITS = 10
# A model ROC-AUC interval wider than this cannot separate models closer
# than it: the split is too small to rank them.
MAX_ROC_AUC_WIDTH = 0.10


def settled(paired, metric, fewest_of_a_class, units):
  """A paired comparison (uncertainty.paired's) with its verdict overruled
  where the split cannot decide it: under MIN_RESAMPLED_UNITS units, or a
  ranking metric with under MIN_CLASS_TRACKS tracks of a class (an interval
  undefined there included: the split is why)."""
  if units < MIN_RESAMPLED_UNITS:
    return {**paired, 'verdict': 'cannot decide'}
  if metric in RANKING_METRICS and fewest_of_a_class < MIN_CLASS_TRACKS:
    return {**paired, 'verdict': 'cannot rank'}
  return paired


def summarize(split, model, baselines, criterion, bootstrap=0, seed=0,
              groups=None):
  """The report of a split: model metrics, breakdowns and baseline rows.

  model: {'validation': ..., split: ...} per-example arrays from
  inference.predict_split; baselines: baselines.fit_predict's output, in the
  same example order. With bootstrap resamples (of the tracks, or of whole
  groups when `groups` labels each track), every metric gets its interval
  and the model is compared with each baseline on the same resamples.
  """
  evaluated = model[split]
  args = (split, evaluated['label'], evaluated['popularity'],
          model['validation']['label'], criterion)
  overall = _scored(model, *args)
  threshold = overall['threshold']
  labels, probabilities = evaluated['label'], evaluated['probability']
  summary = {
      'split': split,
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
  }
  if bootstrap:
    outputs = {'model': {**evaluated, 'threshold': threshold}}
    for name, by_split in baselines.items():
      outputs[name] = {**by_split[split], 'threshold': summary['baselines'][
          name].get('threshold')}
    _add_intervals(summary, outputs, evaluated, bootstrap, seed, groups)
  summary['warnings'] = warnings(summary)
  return metrics.json_safe(summary)


def _add_intervals(summary, outputs, evaluated, resamples, seed, groups):
  """Intervals of every metric, and the model's paired comparisons."""
  w = uncertainty.multiplicities(len(evaluated['label']), resamples, seed,
                                 groups)
  samples = uncertainty.predictors_samples(w, evaluated['label'],
                                           evaluated['popularity'], outputs)
  for name, row in rows(summary).items():
    row['intervals'] = {metric: uncertainty.interval(values)
                        for metric, values in samples[name].items()
                        if metric != 'count'}
  units = int(len(np.unique(groups)) if groups is not None
              else len(evaluated['label']))
  fewest = _fewest_of_a_class(summary['overall'])
  summary['comparisons'] = {}
  for name in summary['baselines']:
    compared = {}
    for metric, higher_is_better in uncertainty.COMPARED:
      if metric in samples['model'] and metric in samples[name]:
        compared[metric] = {
            'difference': (summary['overall'][metric]
                           - summary['baselines'][name][metric]),
            **settled(uncertainty.paired(samples['model'][metric],
                                         samples[name][metric],
                                         higher_is_better),
                      metric, fewest, units)}
    summary['comparisons'][name] = compared
  summary['bootstrap'] = {
      'resamples': resamples, 'seed': seed,
      'confidence': uncertainty.CONFIDENCE,
      'unit': 'group' if groups is not None else 'track', 'units': units}


def _class_counts(overall):
  """[(count, class name)] of the evaluated split."""
  positives = round(overall['positive_rate'] * overall['count'])
  return [(overall['count'] - positives, 'unpopular'), (positives, 'popular')]


def _fewest_of_a_class(overall):
  return min(count for count, _ in _class_counts(overall))


def _sparse_classes(overall):
  """[(count, class name)] of the classes with under MIN_CLASS_TRACKS
  tracks in the evaluated split."""
  return [(count, name) for count, name in _class_counts(overall)
          if count < MIN_CLASS_TRACKS]


def warnings(summary):
  """Plain words for a split that cannot decide what its figures suggest."""
  overall = summary['overall']
  out = [f'{count} {name} {summary["split"]} track(s), under '
         f'{MIN_CLASS_TRACKS}: ROC-AUC, PR-AUC and MCC cannot rank models on '
         'this split' for count, name in _sparse_classes(overall)]
  boot = summary.get('bootstrap')
  if boot and boot['units'] < MIN_RESAMPLED_UNITS:
    out.append(f"{boot['units']} {boot['unit']}(s) resampled, under "
               f'{MIN_RESAMPLED_UNITS}: no comparison on this split can decide')
  bounds = overall.get('intervals', {}).get('roc_auc')
  if bounds and bounds[1] - bounds[0] > MAX_ROC_AUC_WIDTH:
    out.append(f'the ROC-AUC interval [{bounds[0]:.3f}, {bounds[1]:.3f}] is '
               f'wider than {MAX_ROC_AUC_WIDTH:.2f}: this split cannot '
               'separate models closer than that')
  return out


def cell(value, fmt='.3f'):
  """A report value as text; '—' where it is undefined (null)."""
  return '—' if value is None else format(value, fmt)


def _cell_with_interval(row, key, fmt):
  bounds = row.get('intervals', {}).get(key)
  if row.get(key) is None or not bounds:
    return cell(row.get(key), fmt)
  return f'{cell(row[key], fmt)} [{cell(bounds[0], fmt)}, {cell(bounds[1], fmt)}]'


def rows(summary):
  """{predictor: metrics}: the model, then every baseline."""
  return {'model': summary['overall'], **summary['baselines']}


def table(rows_by_name):
  """Markdown table, one row per predictor; '—' where a metric does not
  apply; each figure followed by its interval when the report has them."""
  lines = ['| predictor | ' + ' | '.join(h for _, h, _ in COLUMNS) + ' |',
           '| --- ' * (len(COLUMNS) + 1) + '|']
  for name, row in rows_by_name.items():
    cells = [_cell_with_interval(row, key, fmt) for key, _, fmt in COLUMNS]
    lines.append(f'| {LABELS.get(name, name)} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def headline(summary):
  """What was evaluated, its class balance and threshold, how its intervals
  were drawn, the model against each baseline, and any warning."""
  overall, threshold = summary['overall'], summary['threshold']
  lines = [f"{summary['split']} split, {overall['count']} tracks "
           f"({100 * overall['positive_rate']:.1f}% popular), "
           f"{summary['checkpoint']} checkpoint (step {summary['step']}); "
           f"threshold {threshold['value']:.3f} (max {threshold['criterion']} "
           f"on {threshold['chosen_on']})"]
  if boot := summary.get('bootstrap'):
    lines[0] += (f"; {100 * boot['confidence']:.0f}% intervals from "
                 f"{boot['resamples']} bootstrap resamples of the "
                 f"{boot['units']} {boot['unit']}s")
    lines += verdicts(summary)
  lines += [f'WARNING: {w}' for w in summary.get('warnings', [])]
  return '\n'.join(lines)


def verdicts(summary):
  """One line per baseline: the model's difference on the first compared
  metric both predict, its interval and p-value, and what that resolves."""
  out = []
  units = f"{summary['bootstrap']['units']} test {summary['bootstrap']['unit']}s"
  for name, compared in summary.get('comparisons', {}).items():
    metric = next((m for m, _ in uncertainty.COMPARED if m in compared), None)
    if metric is None:
      continue
    c = compared[metric]
    heading = next(h for k, h, _ in COLUMNS if k == metric)
    if c['interval'] is None:
      out.append(f'spotipop vs {LABELS.get(name, name)}: {heading} undefined '
                 f'on too many resamples of {units}')
      continue
    word = {'better': 'spotipop better', 'worse': 'spotipop worse',
            'not resolved': 'no difference resolved',
            'cannot rank': f'cannot rank models with under {MIN_CLASS_TRACKS} '
                           'tracks of a class',
            'cannot decide': 'cannot decide (under '
                             f'{MIN_RESAMPLED_UNITS} resampled)'}[c['verdict']]
    low, high = c['interval']
    out.append(f"spotipop vs {LABELS.get(name, name)}: {heading} "
               f"{c['difference']:+.3f} [{low:+.3f}, {high:+.3f}], "
               f"p = {c['p_value']:.3g}: {word} on {units}")
  return out
