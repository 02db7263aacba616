"""What a benchmark needs before it times anything: the device it was asked
for and the peer library it times against. A missing one ends the benchmark
in one line that says what is missing and how to get it, not in a
traceback from deep inside JAX or an import."""

import importlib
import os

BENCH_EXTRAS = "pip install -e '.[bench]'"


def device(name):
  """JAX on --device=name ('cpu' or 'gpu'), checked; returns the jax module.

  JAX_PLATFORMS already in the environment wins, as it does for JAX itself:
  one that gives another platform than the one asked for is refused, so a
  figure is never printed as a GPU's when the CPU computed it.
  """
  os.environ.setdefault('JAX_PLATFORMS', 'cuda' if name == 'gpu' else 'cpu')
  import jax  # pylint: disable=g-import-not-at-top
  platforms = os.environ['JAX_PLATFORMS']
  try:
    found = jax.devices()[0].platform
  # A platform that JAX_PLATFORMS names and this JAX lacks fails its backend
  # start with a RuntimeError or, for cuda without its plugin, a bare
  # AssertionError.
  except (RuntimeError, AssertionError):
    raise SystemExit(
        f'--device={name}: JAX has no {name.upper()} here (JAX_PLATFORMS='
        f'{platforms} starts no backend); on an NVIDIA GPU install '
        "jax[cuda12]") from None
  if found != name:
    raise SystemExit(f'--device={name}: JAX_PLATFORMS={platforms} in the '
                     f'environment gives JAX the {found}; unset it')
  return jax


def peer(module, role):
  """The peer library `module`, imported; ends the benchmark in one line
  naming its role when it is not installed."""
  try:
    return importlib.import_module(module)
  except ImportError as e:
    raise SystemExit(f'{role} needs {module}, which does not import here '
                     f'({e}): {BENCH_EXTRAS}') from None
