"""Helpers the benchmarks share: best-of-N wall time, the matmul peak, the
environment of a worker process with N CPU host devices, and the result a
worker process prints."""

import json
import re
import subprocess
import sys
import time

import numpy as np


def best_time(fn, repeats, clock=time.perf_counter):
  """Fastest of `repeats` calls of fn, after one warm-up call, by clock:
  wall time, or time.process_time for the CPU time of every thread."""
  fn()  # Warm-up: compilation, plan caches.
  times = []
  for _ in range(repeats):
    start = clock()
    fn()
    times.append(clock() - start)
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


def worker_result(script, args, env=None):
  """The JSON on the last stdout line of `python script args`, run in a fresh
  process (env: its environment; None, this one's). A failed worker ends the
  benchmark with the end of its stderr."""
  out = subprocess.run([sys.executable, script, *args], env=env,
                       capture_output=True, text=True, check=False)
  if out.returncode:
    raise SystemExit(out.stderr[-3000:])
  return json.loads(out.stdout.strip().splitlines()[-1])
