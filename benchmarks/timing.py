"""Helpers the benchmarks share: best-of-N wall time, the matmul peak, and
the environment of a worker process with N CPU host devices."""

import re
import time

import numpy as np


def best_time(fn, repeats):
  """Fastest of `repeats` calls of fn, after one warm-up call."""
  fn()  # Warm-up: compilation, plan caches.
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return min(times)


def mean_time(step, sync, steps, warmup=2):
  """Mean wall time of step() over `steps` calls after `warmup` calls.

  sync(output) waits for asynchronous work (JAX dispatch, CUDA streams), so
  the timing covers the computation, not just its launch.
  """
  for _ in range(warmup):  # Compilation, caches.
    sync(step())
  start = time.perf_counter()
  for _ in range(steps):
    out = step()
  sync(out)
  return (time.perf_counter() - start) / steps


def matmul_peak_flops(repeats=5, n=2048):
  """float32 FLOP/s of a jitted n x n matmul on JAX's default device."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n)), jnp.float32)
  matmul = jax.jit(lambda x: x @ x)
  seconds = best_time(lambda: matmul(a).block_until_ready(), repeats)
  return 2 * n ** 3 / seconds


def host_devices_env(env, count):
  """A copy of env in which JAX has `count` CPU host devices.

  Replaces any inherited count: XLA takes the last one given.
  """
  inherited = re.sub(r'--xla_force_host_platform_device_count=\d+', '',
                     env.get('XLA_FLAGS', ''))
  return dict(env, XLA_FLAGS=(
      f'{inherited} --xla_force_host_platform_device_count={count}'))
