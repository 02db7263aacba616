"""The conv tower's kernel gradients on CPU: spotipop's loop against XLA's own.

  python benchmarks/conv_grads.py                     # default and paper layers
  python benchmarks/conv_grads.py --settings=paper --batch_size=2

For each 3x3 layer of an experiment's conv tower (its input shape follows
from the clip length, STFT and pooling), times the gradient with respect to
the kernel, given the layer's input and a random output gradient:

- XLA: jax.vjp of lax.conv_general_dilated, a convolution whose window is
  the whole image;
- spotipop: kernels.conv.kernel_grad_3x3, matmuls of cache-sized patch matrices.

Both must agree (max abs diff / peak < 1e-4) before anything is timed. The
layer's forward convolution is timed too, as the yardstick of what a
convolution costs on this machine.
"""

import argparse
import json
import os

import numpy as np

from timing import best_time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# name -> batch (the paper's 64 needs more memory than a 24 GB machine).
SETTINGS = {'default': 32, 'paper': 2}


def layer_shapes(name, batch_size):
  """[(batch, height, width, in_channels, out_channels)] of the conv tower,
  from the shapes the model's own spectrogram and pooling give."""
  import jax  # pylint: disable=g-import-not-at-top
  from spotipop import config as config_lib  # pylint: disable=g-import-not-at-top
  from spotipop.audio import spectrogram  # pylint: disable=g-import-not-at-top
  from spotipop.data import catalog  # pylint: disable=g-import-not-at-top
  from spotipop.model.kernels import norm_gelu_pool  # pylint: disable=g-import-not-at-top
  config = config_lib.from_flagfile(
      os.path.join(REPO, 'experiments', f'{name}.flags'))
  m = config.model
  audio = jax.ShapeDtypeStruct(
      (batch_size, catalog.num_samples(config.data)), np.float32)
  x = jax.eval_shape(lambda a: spectrogram.log_spectrogram(
      a, config.data.sample_rate, m.n_fft, m.hop_length, m.n_mels), audio)
  channels, shapes = 1, []
  for out in m.conv_channels:
    shapes.append((*x.shape[:3], channels, out))
    x = jax.eval_shape(
        norm_gelu_pool.NormGeluPool(num_groups=1).init_with_output,
        jax.random.key(0),
        jax.ShapeDtypeStruct((*x.shape[:3], out), np.float32))[0]
    channels = out
  return shapes


def compare(shape, repeats):
  """Checks both kernel gradients agree, then times them and the forward
  convolution."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from spotipop.model.kernels import conv as conv_kernels  # pylint: disable=g-import-not-at-top
  b, h, w, c, o = shape
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((b, h, w, c)), jnp.float32)
  dy = jnp.asarray(rng.standard_normal((b, h, w, o)), jnp.float32)
  kernel = jnp.asarray(rng.standard_normal((3, 3, c, o)), jnp.float32)

  def conv(x, kernel):
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  forward = jax.jit(conv)
  xla = jax.jit(lambda x, dy: jax.vjp(lambda k: conv(x, k), kernel)[1](dy)[0])
  ours = jax.jit(conv_kernels.kernel_grad_3x3)
  expected = np.asarray(xla(x, dy))
  error = float(np.abs(np.asarray(ours(x, dy)) - expected).max()
                / np.abs(expected).max())
  if error > 1e-4:
    raise SystemExit(f'layer {shape}: kernel gradients differ by {error:.1e} '
                     'of their peak')

  def seconds(fn, *args):
    return best_time(lambda: jax.block_until_ready(fn(*args)), repeats)
  return {'shape': shape, 'error': error,
          'forward_seconds': seconds(forward, x, kernel),
          'xla_seconds': seconds(xla, x, dy),
          'spotipop_seconds': seconds(ours, x, dy)}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--settings', default='default,paper',
                      help=f'Comma-separated, of {sorted(SETTINGS)}.')
  parser.add_argument('--batch_size', type=int,
                      help='Instead of 32 (default) and 2 (paper).')
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--json', help='Also write the figures to this file.')
  args = parser.parse_args()
  names = args.settings.split(',')
  if unknown := set(names) - set(SETTINGS):
    parser.error(f'--settings: unknown {sorted(unknown)}; have {sorted(SETTINGS)}')
  os.environ.setdefault('JAX_PLATFORMS', 'cpu')
  import jax  # pylint: disable=g-import-not-at-top

  print(f'device: {jax.devices()[0].device_kind} ({os.cpu_count()} host '
        f'cores), jax {jax.__version__}; best of {args.repeats}')
  print(f"{'settings':9s} {'layer (b, h, w, c, o)':26s} {'forward ms':>10s} "
        f"{'XLA ms':>9s} {'spotipop ms':>12s} {'vs XLA':>7s}")
  results = []
  for name in names:
    totals = {'xla_seconds': 0.0, 'spotipop_seconds': 0.0}
    for shape in layer_shapes(name, args.batch_size or SETTINGS[name]):
      r = dict(compare(shape, args.repeats), settings=name)
      results.append(r)
      for k in totals:
        totals[k] += r[k]
      print(f"{name:9s} {str(shape):26s} {1e3 * r['forward_seconds']:10.1f} "
            f"{1e3 * r['xla_seconds']:9.1f} {1e3 * r['spotipop_seconds']:12.1f} "
            f"{r['xla_seconds'] / r['spotipop_seconds']:6.2f}x")
    print(f"{name:9s} {'all layers':26s} {'':10s} "
          f"{1e3 * totals['xla_seconds']:9.1f} "
          f"{1e3 * totals['spotipop_seconds']:12.1f} "
          f"{totals['xla_seconds'] / totals['spotipop_seconds']:6.2f}x")
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(results, f, indent=2)


if __name__ == '__main__':
  main()
