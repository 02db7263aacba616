"""Train-step throughput on 1 and 8 devices against the input pipeline feeding it.

  python benchmarks/train.py                 # CPU: 1 and 8 forced host devices
  python benchmarks/train.py --device=gpu    # every local GPU

Each device count runs in its own process (XLA fixes the CPU device count at
start-up). The model is the default experiment's (two towers, log-mel STFT
computed in the step, embedded demo catalogue, global batch 32). The input
pipeline (TFDS array_record data source -> standardised, device-shaped numpy
batches) is timed in the same process, and its examples/s is reported as a
multiple of what the train step consumes.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time


def _worker(args):
  """Runs in a process with the device count already fixed."""
  import jax  # pylint: disable=g-import-not-at-top
  from spotipop import config as config_lib  # pylint: disable=g-import-not-at-top
  from spotipop import models  # pylint: disable=g-import-not-at-top
  from spotipop import train  # pylint: disable=g-import-not-at-top
  from spotipop.data import catalog  # pylint: disable=g-import-not-at-top

  config = config_lib.Config(
      data=config_lib.DataConfig(data_dir=args.data_dir),
      train=config_lib.TrainConfig(batch_size=args.batch_size)).validate()
  builder = catalog.build(config.data)
  batches = train.split_batches(builder, config, 'train', train=True)

  start, examples = time.perf_counter(), 0
  for epoch in range(args.pipeline_epochs):
    for batch in batches.epoch(epoch):
      examples += batch['label'].size
  pipeline_rate = examples / (time.perf_counter() - start)

  model = models.create(config, len(builder.info.metadata['genre_vocab']))
  state = train.create_train_state(config, model, jax.random.key(0),
                                   len(batches))
  p_train = train.make_train_step(1.0, config.train.regression_weight)
  # Host numpy batch, as in training: the timing includes the transfer.
  batch = {k: v for k, v in next(batches.epoch(0)).items()
           if k in train.DEVICE_KEYS}
  key = jax.random.key(1)
  for _ in range(2):  # Compile and warm up.
    state, metrics = p_train(state, batch, key)
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for _ in range(args.steps):
    state, metrics = p_train(state, batch, key)
  jax.block_until_ready(metrics)
  train_rate = args.steps * args.batch_size / (time.perf_counter() - start)
  print(json.dumps({
      'devices': jax.local_device_count(),
      'device_kind': jax.devices()[0].device_kind,
      'train_examples_per_second': train_rate,
      'pipeline_examples_per_second': pipeline_rate,
      'pipeline_over_train': pipeline_rate / train_rate}))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--device', choices=('cpu', 'gpu'), default='cpu')
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--pipeline_epochs', type=int, default=5)
  parser.add_argument('--data_dir', default='~/tensorflow_datasets')
  parser.add_argument('--json', help='Also write the figures to this file.')
  parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    _worker(args)
    return

  counts = (1, 8) if args.device == 'cpu' else (None,)
  results = []
  for count in counts:
    env = dict(os.environ, JAX_PLATFORMS=args.device.replace('gpu', 'cuda'))
    if count:  # Replaces any inherited count: XLA takes the last one given.
      inherited = re.sub(r'--xla_force_host_platform_device_count=\d+', '',
                         env.get('XLA_FLAGS', ''))
      env['XLA_FLAGS'] = (
          f'{inherited} --xla_force_host_platform_device_count={count}')
    out = subprocess.run(
        [sys.executable, __file__, '--worker', f'--batch_size={args.batch_size}',
         f'--steps={args.steps}', f'--pipeline_epochs={args.pipeline_epochs}',
         f'--data_dir={args.data_dir}'],
        env=env, capture_output=True, text=True, check=False)
    if out.returncode:
      raise SystemExit(out.stderr[-3000:])
    results.append(json.loads(out.stdout.strip().splitlines()[-1]))

  print(f'model: default experiment (two towers, log-mel STFT in the step), '
        f'global batch {args.batch_size}; host has {os.cpu_count()} cores')
  print(f"{'device':>14s} {'devices':>8s} {'train ex/s':>11s} "
        f"{'pipeline ex/s':>14s} {'pipeline/train':>15s}")
  for r in results:
    print(f"{r['device_kind']:>14s} {r['devices']:8d} "
          f"{r['train_examples_per_second']:11.1f} "
          f"{r['pipeline_examples_per_second']:14.1f} "
          f"{r['pipeline_over_train']:14.1f}x")
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(results, f, indent=2)


if __name__ == '__main__':
  main()
