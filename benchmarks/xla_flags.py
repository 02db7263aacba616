"""Compile time of the train step under the tests' XLA flags against XLA's defaults.

  python benchmarks/xla_flags.py                       # the default experiment
  python benchmarks/xla_flags.py -- --conv_channels=8,16   # spotipop flags last

The tests compile many small models and run each for a few steps, so their
time is mostly XLA:CPU's compile time; tests/compile_flags.py holds the flags
they compile under. For each flag set, a fresh process (no compilation cache,
8 host devices as in the tests) compiles the pmapped train step on a batch of
random clips and runs it once, then computes the gradient of one device's
loss. The two processes must agree on the loss and every gradient to float32
rounding: the tests compute what a user's run computes. (Parameters after a
step are no test of that: Adam's first update is the learning rate times the
gradient's sign, which rounding flips where a gradient is near 0.)
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

from timing import host_devices_env
from timing import worker_result
from train_step import host_batch
from train_step import split

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'tests'))
from compile_flags import TEST_XLA_FLAGS  # pylint: disable=g-import-not-at-top,wrong-import-position

DEVICES = 8
# name -> XLA flags beside the device count.
FLAG_SETS = {"XLA's defaults": '', "the tests' flags": TEST_XLA_FLAGS}
# Of a gradient's largest entry. float32 rounding (LLVM's higher optimisation
# levels contract multiply-adds) measured 1.5e-6 to 7.5e-6; another shard's
# gradient differs by about 5.
TOLERANCE = 1e-4
POS_WEIGHT = 1.5


def _worker(out, config_flags):
  """Times the train step's compile; writes its loss and a gradient to out."""
  import jax  # pylint: disable=g-import-not-at-top
  from spotipop import config as config_lib  # pylint: disable=g-import-not-at-top
  from spotipop.model import network  # pylint: disable=g-import-not-at-top
  from spotipop.training import loop  # pylint: disable=g-import-not-at-top
  from spotipop.model import train_state  # pylint: disable=g-import-not-at-top
  jax.config.update('jax_enable_compilation_cache', False)
  config = config_lib.from_flagfile(
      os.path.join(REPO, 'experiments', 'default.flags'), *config_flags)
  state = train_state.create(config, network.create(config, num_genres=6),
                             jax.random.key(0), steps_per_epoch=1)
  batch, key = split(host_batch(config), DEVICES), jax.random.key(1)
  step = loop.make_train_step(POS_WEIGHT, config.train.regression_weight)
  replicated = loop.replicated(state)
  start = time.perf_counter()
  lowered = step.lower(replicated, batch, key)
  traced = time.perf_counter()
  compiled = lowered.compile()
  compile_seconds = time.perf_counter() - traced
  _, metrics = compiled(replicated, batch, key)
  shard = {k: v[0] for k, v in batch.items()}
  gradient = jax.jit(jax.grad(lambda p: loop.loss_fn(
      p, state.apply_fn, shard, key, POS_WEIGHT,
      config.train.regression_weight)[0]))(state.params)
  np.savez(out, loss=np.asarray(metrics['loss']),
           *(np.asarray(leaf) for leaf in jax.tree.leaves(gradient)))
  print(json.dumps({'trace_seconds': traced - start,
                    'compile_seconds': compile_seconds}))


def _in_worker(flags, out, config_flags):
  env = host_devices_env({k: v for k, v in os.environ.items()
                          if k != 'XLA_FLAGS'}, DEVICES)
  env['XLA_FLAGS'] += f' {flags}'
  return worker_result(__file__, ['--worker', f'--out={out}', '--',
                                  *config_flags], env)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--json', help='Also write the figures to this file.')
  parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
  parser.add_argument('--out', help=argparse.SUPPRESS)
  parser.add_argument('config_flags', nargs='*', metavar='FLAG',
                      help='spotipop flags after --, over the default '
                      "experiment's (e.g. the tests' small model).")
  args = parser.parse_args()
  if args.worker:
    _worker(args.out, args.config_flags)
    return
  results, computed = {}, {}
  with tempfile.TemporaryDirectory() as folder:
    for i, (name, flags) in enumerate(FLAG_SETS.items()):
      out = os.path.join(folder, f'{i}.npz')
      results[name] = _in_worker(flags, out, args.config_flags)
      with np.load(out) as saved:
        computed[name] = {k: saved[k] for k in saved.files}
  default, tests = computed.values()
  loss_difference = abs(float(default.pop('loss')) - float(tests.pop('loss')))
  # Each gradient's largest difference, relative to its largest entry.
  difference = max(float(np.abs(default[k] - tests[k]).max() /
                         np.abs(default[k]).max()) for k in default)
  same = difference < TOLERANCE and loss_difference < TOLERANCE
  overridden = (f" with {' '.join(args.config_flags)}" if args.config_flags
                else '')
  print(f'default experiment{overridden}: train step on {DEVICES} host '
        f'devices, {os.cpu_count()} host cores')
  print(f"{'XLA flags':18s} {'trace s':>8s} {'compile s':>10s}")
  for name, r in results.items():
    print(f"{name:18s} {r['trace_seconds']:8.2f} {r['compile_seconds']:10.2f}")
  ratio = (results["XLA's defaults"]['compile_seconds'] /
           results["the tests' flags"]['compile_seconds'])
  print(f"the tests' flags compile {ratio:.2f}x as fast as XLA's defaults; "
        f'the loss differs by {loss_difference:.1e}, each gradient by at most '
        f'{difference:.1e} of its largest entry: '
        f'{"within" if same else "beyond"} float32 rounding ({TOLERANCE:g})')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'results': results, 'compile_ratio': ratio,
                 'loss_difference': loss_difference,
                 'gradient_difference': difference, 'same': same}, f, indent=2)
  if not same:
    raise SystemExit("the tests' XLA flags compute another loss or gradient "
                     "than XLA's defaults")


if __name__ == '__main__':
  main()
