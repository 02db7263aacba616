"""Input pipeline: TFDS data source -> device-shaped numpy batches.

The order of an epoch is a pure function of (seed, epoch), so a run resumed at
step s reads exactly the batches an uninterrupted run would have. Batches come
shaped [local_devices, per_device, ...] for pmap; each host reads only its own
slice of every global batch.
"""

import math
import queue
import threading

import numpy as np

from spotipop import errors
from spotipop.data import features


def genre_ids(genres, vocab):
  """Index in the train-split vocabulary; unseen genres get len(vocab)."""
  index = {g: i for i, g in enumerate(vocab)}
  return np.array([index.get(g, len(vocab)) for g in genres], np.int32)


def model_inputs(feature_rows, genres, metadata):
  """(transformed features, genre ids) with the dataset's train-split transform."""
  return (features.apply(feature_rows, metadata['feature_stats']),
          genre_ids(genres, metadata['genre_vocab']))


# Strings that travel with a batch for reports, not to the devices.
META_KEYS = ('track_id', 'genre', 'release_year', 'group')


def read_columns(records, metadata, with_audio=True):
  """Records -> column arrays with the model's inputs (transformed features)."""
  genres = [r['genre'].decode() for r in records]
  transformed, genre_id = model_inputs([r['features'] for r in records],
                                       genres, metadata)
  columns = {
      'features': transformed,
      'genre_id': genre_id,
      'label': np.array([r['label'] for r in records], np.int32),
      'popularity': np.array([r['popularity'] for r in records], np.float32),
      'track_id': np.array([r['track_id'].decode() for r in records]),
      'genre': np.array(genres),
      'release_year': np.array([r['release_year'] for r in records]),
      'group': np.array([r['group'].decode() for r in records]),
  }
  if with_audio and records and 'audio' in records[0]:  # Tabular: none.
    columns['audio'] = np.stack([r['audio'] for r in records])
  return columns


def read_split(source, metadata, with_audio=True, chunk=1024):
  """read_columns over a whole split, reading `chunk` records at a time."""
  parts = [read_columns(source.__getitems__(
      list(range(start, min(start + chunk, len(source))))), metadata,
                        with_audio)
           for start in range(0, len(source), chunk)]
  return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class Batches:
  """Batches of one split for one host.

  Training batches drop the remainder (every step has the full batch);
  evaluation batches keep every example and pad the last batch, marking padding
  with mask == 0 so metrics count each example exactly once. A split without
  audio is small: it is read once and batched from memory.
  """

  def __init__(self, source, metadata, global_batch_size, num_local_devices, *,
               train, seed=0, process_index=0, process_count=1):
    devices = num_local_devices * process_count
    if global_batch_size % devices:
      raise ValueError(f'--batch_size={global_batch_size} is not divisible by '
                       f'the {devices} devices ({process_count} host(s) x '
                       f'{num_local_devices})')
    if train and len(source) < global_batch_size:
      raise errors.DataError(f'--batch_size={global_batch_size} exceeds the '
                             f'{len(source)} training examples')
    self._source, self._metadata = source, metadata
    self._in_memory = (read_split(source, metadata)
                       if len(source) and 'audio' not in source[0] else None)
    self._global = global_batch_size
    self._local = global_batch_size // process_count
    self._devices = num_local_devices
    self._train, self._seed = train, seed
    self._process_index = process_index

  def __len__(self):
    """Steps per epoch."""
    n = len(self._source)
    return n // self._global if self._train else math.ceil(n / self._global)

  def epoch(self, epoch=0, start_step=0):
    """Yields the batches of `epoch`, starting at step `start_step` of it."""
    n = len(self._source)
    order = (np.random.default_rng([self._seed, epoch]).permutation(n)
             if self._train else np.arange(n))
    for step in range(start_step, len(self)):
      rows = order[step * self._global:(step + 1) * self._global]
      rows = rows[self._process_index * self._local:
                  (self._process_index + 1) * self._local]
      yield self._read(rows)

  def _read(self, rows):
    mask = np.zeros(self._local, np.float32)
    mask[:len(rows)] = 1
    rows = np.r_[rows, np.repeat(rows[:1], self._local - len(rows))]  # Masked.
    if self._in_memory is None:
      columns = read_columns(self._source.__getitems__(rows.tolist()),
                             self._metadata)
    else:
      columns = {k: v[rows] for k, v in self._in_memory.items()}
    batch = {k: v.reshape(self._devices, -1, *v.shape[1:])
             for k, v in columns.items() if k not in META_KEYS}
    batch['mask'] = mask.reshape(self._devices, -1)
    batch['meta'] = {k: columns[k].tolist() for k in META_KEYS}
    return batch


def prefetch(iterator, size=2):
  """Reads ahead in a background thread so the device never waits on the host."""
  items = queue.Queue(maxsize=size)
  done = object()

  def produce():
    try:
      for item in iterator:
        items.put(item)
      items.put(done)
    except BaseException as e:  # Re-raised in the consumer.
      items.put(e)

  threading.Thread(target=produce, daemon=True).start()
  while (item := items.get()) is not done:
    if isinstance(item, BaseException):
      raise item
    yield item
