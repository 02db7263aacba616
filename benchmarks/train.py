"""Train-step throughput on 1 and 8 devices against the input pipeline feeding it.

  python benchmarks/train.py                    # CPU: 1 and 8 forced host devices
  python benchmarks/train.py --settings=paper --devices=1 --batch_size=4
  python benchmarks/train.py --device=gpu       # every local GPU
  python benchmarks/train.py -- --conv_channels=8,16   # spotipop flags last

Each device count runs in its own process (XLA fixes the CPU device count at
start-up). --settings picks the model and clips: 'default' is the default
experiment on the embedded demo catalogue (16 kHz x 4 s, 128 KB of PCM an
example); 'paper' is experiments/paper.flags (22.05 kHz x 30 s, 1.3 MB an
example) on a synthetic catalogue of --paper_tracks demo clips padded to 30 s.
spotipop flags after `--` override the experiment's.

The input pipeline (TFDS array_record data source -> standardised,
device-shaped numpy batches) is timed in the same process, reading from the
page cache as in training after the build. Its examples/s is reported as a
multiple of what the train step consumes, and its MB/s against a plain
sequential read of the same array_record files: from the page cache, and from
the disk (the physical floor; run as root, which may drop the page cache).
"""

import argparse
import glob
import json
import os
import tempfile
import time

import needs
from timing import host_devices_env
from timing import mean_time
from timing import worker_result


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(args):
  from spotipop import config as config_lib  # pylint: disable=g-import-not-at-top
  overrides = [f'--data_dir={args.data_dir}', f'--batch_size={args.batch_size}']
  if args.settings == 'paper':
    # Demo clips are 3.5-6 s: padded to 30 s, every example has paper size.
    overrides += [f'--manifest={args.manifest}', '--min_clip_seconds=1']
  return config_lib.from_flagfile(
      os.path.join(REPO, 'experiments', f'{args.settings}.flags'), *overrides,
      *args.config_flags)


def _drop_page_cache():
  """True if the kernel's page cache could be dropped (root only)."""
  os.sync()
  try:
    with open('/proc/sys/vm/drop_caches', 'w') as f:
      f.write('3')
  except OSError:
    return False
  return True


def _raw_read_mb_per_second(builder, cold, repeats=3):
  """Sequential read of the train split's array_record files, best of N.

  cold: each read starts with the page cache dropped (None if not permitted).
  """
  files = glob.glob(os.path.join(builder.data_dir, '*-train.array_record*'))
  best = 0.0
  for _ in range(repeats):
    if cold and not _drop_page_cache():
      return None
    start, size = time.perf_counter(), 0
    for path in files:
      with open(path, 'rb', buffering=0) as f:
        while chunk := f.read(8 << 20):
          size += len(chunk)
    best = max(best, size / 1e6 / (time.perf_counter() - start))
  return best


def _worker(args):
  """Runs in a process with the device count already fixed."""
  import jax  # pylint: disable=g-import-not-at-top
  from spotipop.model import inference  # pylint: disable=g-import-not-at-top
  from spotipop.model import network  # pylint: disable=g-import-not-at-top
  from spotipop.training import loop  # pylint: disable=g-import-not-at-top
  from spotipop.model import train_state  # pylint: disable=g-import-not-at-top
  from spotipop.data import datasets  # pylint: disable=g-import-not-at-top

  config = _config(args)
  builder = datasets.build(config.data)
  batches = inference.split_batches(builder, config, 'train', train=True)

  start, examples = time.perf_counter(), 0
  for epoch in range(args.pipeline_epochs):
    for batch in batches.epoch(epoch):
      examples += batch['label'].size
  pipeline_rate = examples / (time.perf_counter() - start)
  example_mb = batch['audio'][0, 0].nbytes / 1e6

  model = network.create(config, len(builder.info.metadata['genre_vocab']))
  state = train_state.create(config, model, jax.random.key(0),
                                   len(batches))
  p_train = loop.make_train_step(1.0, config.train.regression_weight)
  # Host numpy batch, as in training: the timing includes the transfer.
  batch = {k: v for k, v in next(batches.epoch(0)).items()
           if k in inference.DEVICE_KEYS}
  key = jax.random.key(1)
  holder = {'state': state}

  def step():
    holder['state'], metrics = p_train(holder['state'], batch, key)
    return metrics

  train_rate = args.batch_size / mean_time(step, jax.block_until_ready,
                                           args.steps)
  raw = _raw_read_mb_per_second(builder, cold=False)
  disk = (_raw_read_mb_per_second(builder, cold=True) if args.disk_read
          else None)
  print(json.dumps({
      'devices': jax.local_device_count(),
      'device_kind': jax.devices()[0].device_kind,
      'example_mb': example_mb,
      'train_examples_per_second': train_rate,
      'pipeline_examples_per_second': pipeline_rate,
      'pipeline_over_train': pipeline_rate / train_rate,
      'pipeline_mb_per_second': pipeline_rate * example_mb,
      'raw_read_mb_per_second': raw,
      'disk_read_mb_per_second': disk,
      'pipeline_over_raw_read': pipeline_rate * example_mb / raw,
      'pipeline_over_disk_read': disk and pipeline_rate * example_mb / disk}))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--device', choices=('cpu', 'gpu'), default='cpu')
  parser.add_argument('--settings', choices=('default', 'paper'),
                      default='default')
  parser.add_argument('--devices', default='1,8',
                      help='CPU device counts, each in its own process.')
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--pipeline_epochs', type=int, default=5)
  parser.add_argument('--paper_tracks', type=int, default=300)
  parser.add_argument('--data_dir', default='~/tensorflow_datasets')
  parser.add_argument('--disk_read', action=argparse.BooleanOptionalAction,
                      default=True,
                      help='Time a read from the disk too: as root, drops '
                      "the whole machine's page cache, slowing whatever else "
                      'runs on it.')
  parser.add_argument('--json', help='Also write the figures to this file.')
  parser.add_argument('config_flags', nargs='*', metavar='FLAG',
                      help="spotipop flags overriding the experiment's, "
                      'after --')
  parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
  parser.add_argument('--manifest', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    _worker(args)
    return
  needs.device(args.device)  # Here, not in each worker's traceback.
  with tempfile.TemporaryDirectory() as root:
    if args.settings == 'paper':
      from spotipop.data import demo_catalogue  # pylint: disable=g-import-not-at-top
      args.manifest = demo_catalogue.write_catalogue(
          root, num_tracks=args.paper_tracks, sample_rate=22_050)
    results = _measure(args)
  _print(args, results)


def _measure(args):
  counts = ([int(n) for n in args.devices.split(',')] if args.device == 'cpu'
            else (None,))
  results = []
  for count in counts:
    env = dict(os.environ, JAX_PLATFORMS=args.device.replace('gpu', 'cuda'))
    if count:
      env = host_devices_env(env, count)
    results.append(worker_result(__file__, [
        '--worker', f'--batch_size={args.batch_size}', f'--steps={args.steps}',
        f'--pipeline_epochs={args.pipeline_epochs}',
        f'--data_dir={args.data_dir}', f'--settings={args.settings}',
        '--disk_read' if args.disk_read else '--no-disk_read',
        *([f'--manifest={args.manifest}'] if args.manifest else []),
        '--', *args.config_flags], env))
  return results


def _print(args, results):
  overridden = f" with {' '.join(args.config_flags)}" if args.config_flags else ''
  print(f'model: {args.settings} experiment{overridden} (two towers, STFT in '
        'the step), '
        f'global batch {args.batch_size}, {results[0]["example_mb"]:.2f} MB of '
        f'PCM an example; host has {os.cpu_count()} cores')
  print(f"{'device':>8s} {'devices':>8s} {'train ex/s':>11s} "
        f"{'pipeline ex/s':>14s} {'pipeline/train':>15s} {'pipeline MB/s':>14s} "
        f"{'cached read MB/s':>17s} {'disk read MB/s':>15s}")
  for r in results:
    disk = r['disk_read_mb_per_second']
    print(f"{r['device_kind']:>8s} {r['devices']:8d} "
          f"{r['train_examples_per_second']:11.2f} "
          f"{r['pipeline_examples_per_second']:14.1f} "
          f"{r['pipeline_over_train']:14.1f}x "
          f"{r['pipeline_mb_per_second']:14.0f} "
          f"{r['raw_read_mb_per_second']:10.0f} ({r['pipeline_over_raw_read']:4.0%}) "
          + (f"{disk:8.0f} ({r['pipeline_over_disk_read']:4.0%})" if disk
             else f"{'not measured':>15s}"))
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(results, f, indent=2)


if __name__ == '__main__':
  main()
