"""Popularity from counts: listens, plays, downloads or chart ranks to 0-100.

Spotify's popularity is a 0-100 score; open catalogues count (FMA's listens,
Jamendo's downloads). --popularity_from turns the --popularity_column count
into the 0-100 popularity the labels and the score head use, fitted on the
train split only and applied to every split:

- 'percentile': the count's percentile among the train tracks (ties take
  the middle of their step), 0-100;
- 'log_scale': log(1 + count) placed linearly between the train split's 1st
  (0) and 99th (100) percentile of log(1 + count), clipped to 0-100.

--popularity_within_year fits each release year on its own train tracks
(counts grow with a track's age), falling back to the whole train split for
a year with under MIN_YEAR_TRACKS of them. --popularity_lower_is_better
takes a chart rank, where 1 is the best.
"""

import collections
import dataclasses

import numpy as np

from spotipop import errors
from spotipop.config import DataConfig

MIN_YEAR_TRACKS = 10


def _reference(counts, data: DataConfig):
  """What a count is placed against: the sorted train counts, or their log
  1st and 99th percentiles."""
  counts = np.sort(np.asarray(counts, np.float64))
  if data.popularity_from == 'percentile':
    return {'sorted': counts.tolist()}
  logs = np.log1p(counts)
  low, high = np.percentile(logs, [1, 99])
  return {'low': float(low), 'high': float(high)}


def _place(count, reference, data: DataConfig):
  if data.popularity_from == 'percentile':
    ordered = reference['sorted']
    below = np.searchsorted(ordered, count, side='left')
    at_most = np.searchsorted(ordered, count, side='right')
    return float(100 * (below + at_most) / (2 * len(ordered)))
  low, high = reference['low'], reference['high']
  if high <= low:
    return 50.0
  return float(np.clip(100 * (np.log1p(count) - low) / (high - low), 0, 100))


def _signed(track, data: DataConfig):
  count = track.popularity
  if count < 0:
    raise errors.ManifestError(
        f'{data.manifest}:{track.row}: column {data.popularity_column!r} is '
        f'{count:g}, a count below 0')
  return -count if data.popularity_lower_is_better else count


def fit(train_tracks, data: DataConfig):
  """The transform's parameters, from the train split's counts."""
  counts = [_signed(t, data) for t in train_tracks]
  fitted = {'all': _reference(counts, data), 'years': {}}
  if data.popularity_within_year:
    by_year = collections.defaultdict(list)
    for track, count in zip(train_tracks, counts):
      by_year[track.release_year].append(count)
    fitted['years'] = {str(year): _reference(values, data)
                       for year, values in by_year.items()
                       if len(values) >= MIN_YEAR_TRACKS}
  return fitted


def apply(splits, data: DataConfig):
  """(splits with each track's count replaced by its 0-100 popularity, the
  fitted transform); splits unchanged, None, for a 0-100 popularity."""
  if data.popularity_from == 'score':
    return splits, None
  fitted = fit(splits['train'], data)

  def converted(track):
    reference = fitted['years'].get(str(track.release_year), fitted['all'])
    return dataclasses.replace(
        track, popularity=_place(_signed(track, data), reference, data))
  return ({name: [converted(t) for t in tracks]
           for name, tracks in splits.items()}, fitted)


def describe(data: DataConfig):
  """What the label means, in words, for reports."""
  if data.popularity_from == 'score':
    return (f'popular: {data.popularity_column} >= '
            f'{data.popularity_threshold:g} (a 0-100 score)')
  how = {'percentile': 'percentile', 'log_scale': 'log-scaled place'}[
      data.popularity_from]
  within = ' within its release year' if data.popularity_within_year else ''
  order = ' (lower is better)' if data.popularity_lower_is_better else ''
  return (f'popular: the {how} of {data.popularity_column}{order} among the '
          f'train tracks{within} >= {data.popularity_threshold:g} of 100')
