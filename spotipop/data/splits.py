"""Split policies: which tracks train, which validate and which test.

- random: tracks shuffled by --split_seed;
- group: whole groups (e.g. artists) shuffled by --split_seed, so the test
  split measures unseen groups;
- time: the oldest releases train, the newest validate and test.
"""

import collections

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
