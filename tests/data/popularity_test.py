"""Popularity from counts: fitted on the train split, applied to every split."""

import dataclasses

import numpy as np
import pytest

from conftest import small_config
from spotipop import errors
from spotipop.data import manifest
from spotipop.data import popularity


def _tracks(counts, years=None):
  years = years or [2010] * len(counts)
  return [manifest.Track(row=i + 2, track_id=f't{i}', audio_path='',
                         popularity=float(c), genre='pop',
                         release_date=f'{y}-01-01', group='', features=())
          for i, (c, y) in enumerate(zip(counts, years))]


def _data(**overrides):
  return small_config('', '/unused', **overrides).data


def test_percentile_places_each_count_among_the_train_counts():
  train = _tracks([10, 20, 20, 30, 1000])
  splits, _ = popularity.apply({'train': train, 'test': _tracks([20, 5, 5000])},
                               _data(popularity_from='percentile'))
  # Ties take the middle of their step: 20 is above 1 of 5 and at 2 of 5.
  assert [t.popularity for t in splits['train']] == [10, 40, 40, 70, 90]
  assert [t.popularity for t in splits['test']] == [40, 0, 100]


def test_log_scale_spans_the_train_splits_1st_to_99th_percentile():
  counts = np.arange(101) ** 3
  splits, fitted = popularity.apply(
      {'train': _tracks(counts), 'test': _tracks([0, 1e9])},
      _data(popularity_from='log_scale'))
  logs = np.log1p(counts)
  low, high = np.percentile(logs, [1, 99])
  expected = np.clip(100 * (logs - low) / (high - low), 0, 100)
  np.testing.assert_allclose([t.popularity for t in splits['train']], expected)
  assert [t.popularity for t in splits['test']] == [0, 100]
  assert fitted['all'] == {'low': low, 'high': high}


def test_the_transform_is_fitted_on_the_train_split_only():
  """The same test counts score the same whatever the test split holds."""
  train = _tracks([1, 2, 3, 4])
  data = _data(popularity_from='percentile')
  a, _ = popularity.apply({'train': train, 'test': _tracks([3])}, data)
  b, _ = popularity.apply({'train': train, 'test': _tracks([3, 100, 100])},
                          data)
  assert a['test'][0].popularity == b['test'][0].popularity == 62.5


def test_within_year_compares_a_track_with_its_own_years_train_tracks():
  """2009's tracks have had longer to gather listens than 2016's."""
  old, new = list(range(100, 1100, 100)), list(range(1, 11))
  train = _tracks(old + new, [2009] * 10 + [2016] * 10)
  test = _tracks([500, 5, 5], [2009, 2016, 2012])  # 2012: no train year.
  data = _data(popularity_from='percentile', popularity_within_year=True)
  splits, fitted = popularity.apply({'train': train, 'test': test}, data)
  assert sorted(fitted['years']) == ['2009', '2016']
  scores = [t.popularity for t in splits['test']]
  assert scores[0] == scores[1] == 45.0  # The middle of each year.
  assert scores[2] == 22.5  # Against all 20 train tracks: 4 below, 1 at 5.
  flat, _ = popularity.apply({'train': train, 'test': test},
                             dataclasses.replace(data,
                                                 popularity_within_year=False))
  assert flat['test'][0].popularity == 72.5


def test_a_rank_where_lower_is_better_turns_around():
  data = _data(popularity_from='percentile', popularity_lower_is_better=True)
  splits, _ = popularity.apply({'train': _tracks([1, 2, 3, 4])}, data)
  assert [t.popularity for t in splits['train']] == [87.5, 62.5, 37.5, 12.5]


def test_train_counts_all_equal_on_a_log_scale_place_every_track_at_50():
  data = _data(popularity_from='log_scale')
  splits, fitted = popularity.apply({'train': _tracks([7, 7, 7]),
                                     'test': _tracks([0, 7, 1000])}, data)
  assert fitted['all']['low'] == fitted['all']['high']
  assert [t.popularity for t in splits['test']] == [50.0, 50.0, 50.0]


def test_a_negative_count_is_refused_naming_its_line():
  with pytest.raises(errors.ManifestError, match=r':3: column .popularity. '
                     r'is -4, a count below 0'):
    popularity.apply({'train': _tracks([1, -4])},
                     _data(popularity_from='log_scale'))


def test_a_score_is_left_as_it_is_and_the_label_says_what_it_means():
  train = _tracks([10, 90])
  splits, fitted = popularity.apply({'train': train}, _data())
  assert splits['train'] is train and fitted is None
  assert popularity.describe(_data()) == (
      'popular: popularity >= 50 (a 0-100 score)')
  assert popularity.describe(_data(
      popularity_from='percentile', popularity_within_year=True,
      popularity_column='listens')) == (
          'popular: the percentile of listens among the train tracks within '
          'its release year >= 50 of 100')
  assert popularity.describe(_data(
      popularity_from='percentile', popularity_lower_is_better=True,
      popularity_column='chart_rank', popularity_threshold=60)) == (
          'popular: the percentile of chart_rank (lower is better) among the '
          'train tracks >= 60 of 100')
  assert popularity.describe(_data(
      popularity_from='log_scale', popularity_column='plays')) == (
          'popular: the log-scaled place of plays among the train tracks >= '
          '50 of 100')
