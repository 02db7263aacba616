"""Predictors of different runs compared on the same test tracks.

Two runs of one catalogue, split and split seed hold out the same test
tracks: their network and GBDT predictions (each run's predictions.csv) can
be compared on the same bootstrap resamples, as a report compares the
network with its baselines. Only the threshold-free metrics are compared:
each run chose its own thresholds.
"""

import csv
import json
import os

import numpy as np

from spotipop import errors
from spotipop.evaluation import scorecard
from spotipop.evaluation import uncertainty

PREDICTORS = {'model': ('probability', 'predicted_popularity'),
              'gbdt': ('gbdt_probability', 'gbdt_popularity')}
# A report's compared metrics but MCC, which needs each run's threshold.
COMPARED = tuple((metric, higher) for metric, higher in uncertainty.COMPARED
                 if metric != 'mcc')


def read_predictor(spec):
  """'WORKDIR:PREDICTOR' (model or gbdt) -> its test predictions by track."""
  workdir, _, name = spec.rpartition(':')
  if not workdir or name not in PREDICTORS:
    raise errors.SpotipopError(f'{spec}: give WORKDIR:model or WORKDIR:gbdt')
  path = os.path.join(workdir, 'eval', 'test-best', 'predictions.csv')
  try:
    with open(path, newline='') as f:
      rows = list(csv.DictReader(f))
    with open(os.path.join(workdir, 'eval', 'test-best', 'report.json')) as f:
      unit = json.load(f)['bootstrap']['unit']
  except (OSError, ValueError, KeyError) as e:
    raise errors.SpotipopError(f'{workdir}: no test report to compare ({e}); '
                               'run spotipop.evaluate first') from None
  probability, score = PREDICTORS[name]
  return {'name': spec, 'unit': unit,
          'track_id': [r['track_id'] for r in rows],
          'group': [r['group'] for r in rows],
          'label': np.array([int(r['label']) for r in rows]),
          'popularity': np.array([float(r['popularity']) for r in rows]),
          'probability': np.array([float(r[probability]) for r in rows]),
          'score': np.array([float(r[score]) for r in rows])}


def compare(specs, resamples, seed):
  """{'predictors': {spec: {metric: (value, interval)}}, 'differences':
  {spec: {metric: paired comparison with the first}}, 'tracks', 'unit'}."""
  predictors = [read_predictor(spec) for spec in specs]
  first = predictors[0]
  order = {track: i for i, track in enumerate(first['track_id'])}
  for other in predictors[1:]:
    if sorted(other['track_id']) != sorted(first['track_id']):
      raise errors.SpotipopError(
          f'{other["name"]} and {first["name"]} hold out other test tracks: '
          'compare runs of the same catalogue, split and --split_seed')
    index = np.argsort([order[t] for t in other['track_id']])
    for key in ('track_id', 'group', 'label', 'popularity', 'probability',
                'score'):
      other[key] = np.asarray(other[key])[index]
  groups = first['group'] if first['unit'] == 'group' else None
  w = uncertainty.multiplicities(len(first['label']), resamples, seed, groups)
  full = np.ones((1, len(first['label'])))
  outputs = {p['name']: {'probability': p['probability'],
                         'score': p['score'], 'threshold': 0.5}
             for p in predictors}
  points, samples = (uncertainty.predictors_samples(
      draws, first['label'], first['popularity'], outputs)
                     for draws in (full, w))
  values = {name: {m: (float(points[name][m][0]),
                       uncertainty.interval(samples[name][m]))
                   for m, _ in COMPARED} for name in outputs}
  sparse = min(int(first['label'].sum()), int((1 - first['label']).sum()))
  units = len(set(groups)) if groups is not None else len(first['label'])
  differences = {}
  for p in predictors[1:]:
    differences[p['name']] = {}
    for metric, higher in COMPARED:
      c = scorecard.settled(
          uncertainty.paired(samples[first['name']][metric],
                             samples[p['name']][metric], higher),
          metric, sparse, units)
      c['difference'] = (values[first['name']][metric][0] -
                         values[p['name']][metric][0])
      differences[p['name']][metric] = c
  return {'predictors': values, 'differences': differences,
          'tracks': len(first['label']), 'unit': first['unit'],
          'units': units, 'resamples': resamples}


def table(comparison):
  """Markdown: each predictor's metrics, then the first minus each other."""
  compared = dict(COMPARED)
  headings = {key: heading for key, heading, _ in scorecard.COLUMNS
              if key in compared}
  names = list(comparison['predictors'])

  def cell(value, bounds):
    return (f'{value:.3f}' if bounds is None
            else f'{value:.3f} [{bounds[0]:.3f}, {bounds[1]:.3f}]')
  lines = ['| predictor | ' + ' | '.join(headings.values()) + ' |',
           '| --- ' * (len(headings) + 1) + '|']
  for name in names:
    lines.append(f'| {name} | ' + ' | '.join(
        cell(*comparison['predictors'][name][m]) for m in headings) + ' |')
  for name in names[1:]:
    row = []
    for metric in headings:
      c = comparison['differences'][name][metric]
      bounds = c['interval']
      row.append(f"{c['difference']:+.3f}" + (
          '' if bounds is None else
          f" [{bounds[0]:+.3f}, {bounds[1]:+.3f}]: {c['verdict']}"))
    lines.append(f'| {names[0]} - {name} | ' + ' | '.join(row) + ' |')
  lines.append(f"\n95% intervals from {comparison['resamples']} resamples "
               f"of the {comparison['units']} test {comparison['unit']}s.")
  return '\n'.join(lines)
