"""Split policies: sizes, seeds, whole groups, newest releases held out."""

import numpy as np
import pytest

from conftest import small_config
from spotipop import errors
from spotipop.data import manifest
from spotipop.data import splits


def _tracks(count, groups=None, dates=None):
  return [manifest.Track(row=i + 2, track_id=f't{i}', audio_path='',
                         popularity=50.0, genre='pop',
                         release_date=dates[i] if dates else '',
                         group=groups[i] if groups else '', features=())
          for i in range(count)]


def _data(**overrides):
  return small_config('', '/unused', **overrides).data


def _ids(assigned):
  return {name: [t.track_id for t in members]
          for name, members in assigned.items()}


def test_random_split_sizes_round_the_fractions_and_cover_every_track():
  assigned = splits.assign(_tracks(101), _data())
  sizes = {name: len(members) for name, members in assigned.items()}
  assert sizes == {'train': 71, 'validation': 15, 'test': 15}
  assert sorted(sum(_ids(assigned).values(), [])) == sorted(
      f't{i}' for i in range(101))


def test_random_split_follows_its_seed():
  tracks = _tracks(60)
  assert _ids(splits.assign(tracks, _data(split_seed=3))) == _ids(
      splits.assign(tracks, _data(split_seed=3)))
  assert _ids(splits.assign(tracks, _data(split_seed=3))) != _ids(
      splits.assign(tracks, _data(split_seed=4)))


def test_time_split_holds_out_the_newest_and_breaks_ties_by_id():
  dates = [f'20{i % 20:02d}-01-01' for i in range(40)]
  assigned = splits.assign(_tracks(40, dates=dates),
                           _data(split='time', release_column='year'))
  newest_train = max(t.release_date for t in assigned['train'])
  oldest_held_out = min(t.release_date for t in assigned['validation']
                        + assigned['test'])
  assert newest_train <= oldest_held_out
  assert max(t.release_date for t in assigned['validation']) <= min(
      t.release_date for t in assigned['test'])
  # Tracks of one date are ordered by id: the boundary does not depend on
  # the manifest's row order.
  reversed_order = splits.assign(_tracks(40, dates=dates)[::-1],
                                 _data(split='time', release_column='year'))
  assert _ids(reversed_order) == _ids(assigned)


@pytest.mark.parametrize('distinct', [1, 2])
def test_a_time_split_refuses_dates_too_few_to_order_three_splits(distinct):
  dates = [f'20{i % distinct:02d}-05-01' for i in range(40)]
  with pytest.raises(errors.DataError, match=(
      f"--split=time: the release column 'year' holds {distinct} distinct "
      r'date\(s\) among 40 tracks, too few')):
    splits.assign(_tracks(40, dates=dates),
                  _data(split='time', release_column='year'))


def test_a_date_cut_in_two_by_the_time_split_is_named(caplog):
  # 10 tracks of 2001, 25 of 2002, 5 of 2003: the train/validation cut (at
  # 28) and the validation/test cut (at 34) both fall inside 2002.
  dates = ['2001'] * 10 + ['2002'] * 25 + ['2003'] * 5
  splits.assign(_tracks(40, dates=dates), _data(split='time',
                                                release_column='year'))
  assert caplog.text.count('--split=time: 25 tracks released 2002') == 2
  assert ("(column 'year'; 3 distinct dates) sit on both sides of the "
          'train/validation cut (18 in train)') in caplog.text
  assert 'validation/test cut (24 in validation)' in caplog.text
  caplog.clear()
  # Three dates whose boundaries are the cuts: nothing to say.
  exact = ['2001'] * 28 + ['2002'] * 6 + ['2003'] * 6
  splits.assign(_tracks(40, dates=exact), _data(split='time',
                                                release_column='year'))
  assert '--split=time' not in caplog.text


def test_group_split_sizes_follow_the_fractions_with_unequal_groups():
  rng = np.random.default_rng(0)
  sizes = rng.integers(1, 40, 300)  # 300 artists, 1 to 39 tracks each.
  groups = [f'artist{g}' for g, size in enumerate(sizes) for _ in range(size)]
  tracks = _tracks(len(groups), groups=groups)
  data = _data(split='group', group_column='a')
  assigned = splits.assign(tracks, data)
  fractions = [len(assigned[s]) / len(tracks) for s in splits.SPLITS]
  np.testing.assert_allclose(fractions, data.split_fractions, atol=0.03)
  owner = {}
  for split, members in assigned.items():
    for t in members:
      assert owner.setdefault(t.group, split) == split


def test_a_split_left_empty_is_an_error_naming_the_fractions():
  with pytest.raises(errors.DataError, match='leaves the .* split of 3 tracks '
                     r'empty \(2 groups\)'):
    splits.assign(_tracks(3, groups=['a', 'a', 'b']),
                  _data(split='group', group_column='a'))


@pytest.mark.parametrize('split', ['random', 'time'])
def test_rounded_split_sizes_stay_within_a_track_of_their_fractions(split):
  fractions = (0.7, 0.15, 0.15)
  for count in range(7, 120):
    assigned = splits.assign(_tracks(count, dates=[f'{1900 + i}' for i in
                                                   range(count)]),
                             _data(split=split, split_fractions=fractions))
    sizes = [len(assigned[name]) for name in splits.SPLITS]
    assert sum(sizes) == count
    for size, fraction in zip(sizes, fractions):
      assert abs(size - fraction * count) <= 1, (count, sizes)


@pytest.mark.parametrize('count,fractions,sizes', [
    (3, (0.34, 0.33, 0.33), [1, 1, 1]),  # The smallest catalogue that splits.
    (9, (0.8, 0.1, 0.1), [7, 1, 1]),  # 7.2 and 0.9 round to 7 and 1.
    (20, (0.5, 0.25, 0.25), [10, 5, 5]),
    (20, (0.6, 0.3, 0.1), [12, 6, 2]),
])
def test_split_sizes_at_the_smallest_catalogues(count, fractions, sizes):
  assigned = splits.assign(_tracks(count), _data(split_fractions=fractions))
  assert [len(assigned[name]) for name in splits.SPLITS] == sizes


@pytest.mark.parametrize('fractions,sizes', [
    # Ten artists of ten tracks: the one whose middle track (75th) sits just
    # past the 74% cut validates; at a 75% cut it trains.
    ((0.74, 0.16, 0.10), [70, 20, 10]),
    ((0.75, 0.15, 0.10), [80, 10, 10]),
])
def test_a_group_goes_where_its_middle_track_falls(fractions, sizes):
  groups = [f'artist{i // 10}' for i in range(100)]
  data = _data(split='group', group_column='a', split_fractions=fractions)
  assigned = splits.assign(_tracks(100, groups=groups), data)
  assert [len(assigned[name]) for name in splits.SPLITS] == sizes


def test_group_split_follows_its_seed():
  groups = [f'artist{i // 3}' for i in range(90)]
  tracks = _tracks(90, groups=groups)
  first, again, other = (
      _ids(splits.assign(tracks, _data(split='group', group_column='a',
                                       split_seed=seed)))
      for seed in (0, 0, 1))
  assert first == again and first != other
