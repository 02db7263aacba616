"""Split policies: which tracks train, which validate and which test.

- random: tracks shuffled by --split_seed;
- group: whole groups (e.g. artists) shuffled by --split_seed, so the test
  split measures unseen groups;
- time: the oldest releases train, the newest validate and test.
"""

import collections

from absl import logging
import numpy as np

from spotipop import errors
from spotipop.config import DataConfig

SPLITS = ('train', 'validation', 'test')


def _group_split(tracks, data: DataConfig):
  """Whole groups to each split, in a seeded random order of the groups.

  A group lands in the split where the middle of its tracks falls when the
  shuffled groups are laid end to end, so split sizes come close to the
  fractions however unequal the groups are.
  """
  members = collections.defaultdict(list)
  for i, track in enumerate(tracks):
    members[track.group].append(i)
  names = sorted(members)
  order = np.random.default_rng(data.split_seed).permutation(len(names))
  cuts = np.cumsum(data.split_fractions)[:2] * len(tracks)
  splits, start = {name: [] for name in SPLITS}, 0
  for g in order:
    rows = members[names[g]]
    split = SPLITS[int(np.searchsorted(cuts, start + len(rows) / 2))]
    splits[split] += [tracks[i] for i in rows]
    start += len(rows)
  return splits


def _check_time_cuts(tracks, order, bounds, data: DataConfig):
  """Refuses dates too few to order three splits; names a date whose tracks
  a cut puts on both sides (ties are ordered by track id, which says nothing
  about which is newer)."""
  dates = [tracks[i].release_date for i in order]
  distinct = len(set(dates))
  if distinct < len(SPLITS):
    raise errors.DataError(
        f'--split=time: the release column {data.release_column!r} holds '
        f'{distinct} distinct date(s) among {len(tracks)} tracks, too few to '
        'hold out newer releases (train, validation and test need 3); use '
        '--split=random or --split=group')
  for cut, (before, after) in zip(bounds[1:3], zip(SPLITS, SPLITS[1:])):
    if 0 < cut < len(dates) and dates[cut - 1] == dates[cut]:
      date = dates[cut]
      logging.warning(
          '--split=time: %d tracks released %s (column %r; %d distinct dates) '
          'sit on both sides of the %s/%s cut (%d in %s), ordered by track '
          'id', dates.count(date), date or '(no date)', data.release_column,
          distinct, before, after, dates[:cut].count(date), before)


def assign(tracks, data: DataConfig):
  """Random, time (newest releases held out) or group (e.g. unseen artists)."""
  if data.split == 'group':
    splits = _group_split(tracks, data)
  else:
    if data.split == 'time':
      order = sorted(range(len(tracks)), key=lambda i: (
          tracks[i].release_date, tracks[i].track_id))
    else:
      order = np.random.default_rng(data.split_seed).permutation(len(tracks))
    n_train = int(round(data.split_fractions[0] * len(tracks)))
    n_val = int(round(data.split_fractions[1] * len(tracks)))
    bounds = (0, n_train, n_train + n_val, len(tracks))
    if data.split == 'time':
      _check_time_cuts(tracks, order, bounds, data)
    splits = {name: [tracks[i] for i in order[lo:hi]]
              for name, lo, hi in zip(SPLITS, bounds, bounds[1:])}
  for name, members in splits.items():
    if not members:
      raise errors.DataError(
          f'--split_fractions={data.split_fractions} leaves the {name} split '
          f'of {len(tracks)} tracks empty'
          + (f' ({len({t.group for t in tracks})} groups)'
             if data.split == 'group' else ''))
  return splits
