"""spotipop's batch loader against Grain on the same split, batches and decoding.

  python benchmarks/loader_peers.py                  # default experiment's data
  python benchmarks/loader_peers.py --workers=1,2,4

Both read the embedded demo catalogue's train split from its TFDS
array_record data source, 32 shuffled examples a batch, and assemble the same
columns (spotipop.data.pipeline.read_columns). Grain runs in-process and with
worker processes (mp_prefetch); its first batch, which waits for the workers
to start, is not timed. Examples/s over --epochs epochs.
"""

import argparse
import json
import os
import time

import numpy as np

import needs

BATCH = 32


def _source(data_dir):
  from spotipop import config as config_lib  # pylint: disable=g-import-not-at-top
  from spotipop.data import datasets  # pylint: disable=g-import-not-at-top
  builder = datasets.build(config_lib.DataConfig(data_dir=data_dir))
  return builder.as_data_source()['train'], builder.info.metadata


class _ReadBatch:
  """Grain map: rows -> the columns spotipop's loader makes (picklable)."""

  def __init__(self, data_dir):
    self._data_dir = data_dir
    self._source = None

  def __call__(self, rows):
    from spotipop.data import pipeline  # pylint: disable=g-import-not-at-top
    if self._source is None:  # Opened once in each worker process.
      self._source = _source(self._data_dir)
    source, metadata = self._source
    return pipeline.read_columns(source.__getitems__(np.asarray(rows).tolist()),
                                 metadata)


def _rate(batches):
  """Examples/s over all but the first batch."""
  iterator = iter(batches)
  next(iterator)
  start, examples = time.perf_counter(), 0
  for batch in iterator:
    examples += batch['label'].size
  return examples / (time.perf_counter() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--epochs', type=int, default=60)
  parser.add_argument('--workers', default='1,2')
  parser.add_argument('--data_dir', default='~/tensorflow_datasets')
  parser.add_argument('--json', help='Also write the figures to this file.')
  args = parser.parse_args()
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.FLAGS.mark_as_parsed()  # Grain reads its absl flags' defaults.
  grain = needs.peer('grain', 'the Grain peer')
  from spotipop.data import pipeline  # pylint: disable=g-import-not-at-top

  data_dir = os.path.expanduser(args.data_dir)
  source, metadata = _source(data_dir)
  ours = pipeline.Batches(source, metadata, BATCH, 1, train=True)
  results = {'spotipop Batches': _rate(
      batch for epoch in range(args.epochs) for batch in ours.epoch(epoch))}
  dataset = (grain.MapDataset.range(len(source)).shuffle(seed=0)
             .batch(BATCH, drop_remainder=True).repeat(args.epochs)
             .map(_ReadBatch(data_dir)).to_iter_dataset())
  results['grain, in-process'] = _rate(dataset)
  for workers in (int(n) for n in args.workers.split(',')):
    results[f'grain, {workers} worker processes'] = _rate(dataset.mp_prefetch(
        grain.MultiprocessingOptions(num_workers=workers)))

  best_peer = max(v for k, v in results.items() if k.startswith('grain'))
  print(f'{len(source)} train examples x {args.epochs} epochs, batch {BATCH}; '
        f'host has {os.cpu_count()} cores')
  print(f"{'loader':32s} {'ex/s':>8s} {'vs best peer':>13s}")
  for name, rate in results.items():
    print(f'{name:32s} {rate:8.0f} {rate / best_peer:12.2f}x')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(results, f, indent=2)


if __name__ == '__main__':
  main()
