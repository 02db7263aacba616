"""spotipop/kernels against the plain XLA versions they replace: values and
gradients, float32 and bfloat16, tied maxima; and how --kernels resolves."""

import logging

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from spotipop.model import kernels
from spotipop.model.kernels import chains
from spotipop.model.kernels import conv
from spotipop.model.kernels import norm_gelu_pool


def _assert_trees_close(a, b, rtol, atol):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(
      np.asarray(x, np.float32), np.asarray(y, np.float32), rtol=rtol,
      atol=atol), a, b)


@pytest.mark.parametrize('channels', [1, 3])
@pytest.mark.parametrize('loop_min_bytes', [0, None])
def test_conv_3x3_matches_xla_values_and_gradients(monkeypatch,
                                                   loop_min_bytes, channels):
  """One input channel takes the shifted multiply-adds; with the loop
  threshold at 0 every layer takes the kernel-gradient loop, else this small
  layer keeps XLA's. 2 x 40 x 61 positions take two chunks of the loop, the
  second overlapping the first."""
  if loop_min_bytes is not None:
    monkeypatch.setattr(conv, 'KERNEL_GRAD_LOOP_MIN_BYTES', loop_min_bytes)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((2, 40, 61, channels)), jnp.float32)
  # Small weights keep tanh off its flat tails, where rounding-level
  # differences in the convolution could turn a window's maximum into a tie.
  kernel = jnp.asarray(0.2 * rng.standard_normal((3, 3, channels, 5)),
                       jnp.float32)
  assert 2 * 40 * 61 > conv.KERNEL_GRAD_CHUNK

  def value_and_grads(conv_fn):
    def f(x, kernel):
      return jnp.sum(nn.max_pool(jnp.tanh(conv_fn(x, kernel)), (2, 2),
                                 strides=(2, 2)) ** 2)
    return jax.jit(jax.value_and_grad(f, argnums=(0, 1)))(x, kernel)

  _assert_trees_close(value_and_grads(conv.conv_3x3),
                      value_and_grads(conv.xla_conv_3x3), 1e-5, 1e-5)


def test_kernel_gradient_loop_is_xlas_kernel_gradient():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.standard_normal((3, 17, 29, 4)), jnp.float32)
  dy = jnp.asarray(rng.standard_normal((3, 17, 29, 6)), jnp.float32)
  kernel = jnp.zeros((3, 3, 4, 6))
  xla = jax.vjp(lambda k: conv.xla_conv_3x3(x, k), kernel)[1](dy)[0]
  np.testing.assert_allclose(conv.kernel_grad_3x3(x, dy), xla, rtol=1e-5,
                             atol=1e-4)


@pytest.mark.parametrize('dtype,inputs', [('float32', 'tied'),
                                          ('bfloat16', 'normal')])
def test_norm_gelu_pool_matches_the_flax_composition(dtype, inputs):
  """Values and gradients of nn.GroupNorm + nn.gelu + nn.max_pool. Odd edges
  are dropped by the pool but still count in the statistics. Inputs of 0, 1
  or 2 tie often inside a window; the gradient must reach the first of the
  tied maxima, as nn.max_pool's does."""
  rng = np.random.default_rng(2)
  shape = (2, 11, 7, 16)
  x = (rng.integers(0, 3, shape) if inputs == 'tied'
       else 3 + 2 * rng.standard_normal(shape))
  x = jnp.asarray(x, dtype)
  scale = jnp.asarray(rng.uniform(0.5, 2, 16), jnp.float32)
  bias = jnp.asarray(rng.standard_normal(16), jnp.float32)
  weights = jnp.asarray(rng.standard_normal((2, 5, 3, 16)), jnp.float32)

  def value_and_grads(block):
    def f(x, scale, bias):
      return jnp.sum(block(x, scale, bias, 8).astype(jnp.float32) * weights)
    return jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))(x, scale, bias)

  if inputs == 'tied':
    norm = nn.GroupNorm(num_groups=8, dtype=dtype)
    activations = nn.gelu(norm.apply(
        {'params': {'scale': scale, 'bias': bias}}, x))
    windows = activations[:, :10, :6].reshape(2, 5, 2, 3, 2, 16)
    maxima = windows.max(axis=(2, 4), keepdims=True)
    assert int(((windows == maxima).sum(axis=(2, 4)) > 1).sum()) > 50
  tolerance = 1e-5 if dtype == 'float32' else 2e-2
  _assert_trees_close(value_and_grads(norm_gelu_pool.norm_gelu_pool),
                      value_and_grads(norm_gelu_pool.reference), tolerance,
                      tolerance * 10)


def test_norm_gelu_pool_layer_has_group_norms_parameters():
  x = jnp.ones((1, 4, 4, 8))
  ours = norm_gelu_pool.NormGeluPool(8).init(jax.random.key(0), x)
  flax = nn.GroupNorm(num_groups=8).init(jax.random.key(0), x)
  assert jax.tree.map(np.shape, ours) == jax.tree.map(np.shape, flax)


def test_chains_give_one_chains_values_and_gradients(monkeypatch):
  """16 rows in 3 chains (6, 5 and 5 rows) through a function that mixes
  rows within a chunk only through per-row ops: the result and gradient
  equal one pass over the whole batch, in order."""
  rng = np.random.default_rng(3)
  batch = jnp.asarray(rng.standard_normal((16, 5)), jnp.float32)
  w = jnp.asarray(rng.standard_normal((5, 2)), jnp.float32)
  monkeypatch.setattr(chains, 'CHAIN_BYTES', 1)
  monkeypatch.setattr(chains, 'MAX_CHAINS', 3)
  assert chains.count(16, first_layer_bytes_per_clip=10) == 3

  def loss(w, split):
    fn = lambda x: jnp.tanh(x @ w)
    out = chains.run(fn, batch, 10) if split else fn(batch)
    return jnp.sum(out * jnp.arange(out.size).reshape(out.shape)), out

  chained = jax.value_and_grad(loss, has_aux=True)(w, True)
  whole = jax.value_and_grad(loss, has_aux=True)(w, False)
  # float32 rounding apart: the chained and whole sums add in other orders.
  _assert_trees_close(chained, whole, 1e-5, 1e-6)


def test_chain_count_keeps_each_chunk_under_the_byte_budget():
  assert chains.count(32, chains.CHAIN_BYTES // 4) == 8  # 4 clips a chain.
  assert chains.count(32, chains.CHAIN_BYTES) == chains.MAX_CHAINS
  assert chains.count(3, 1) == 1  # Small clips: one chain.
  # Whole clips a chain: 2 fit (2.5 would not), so 5 clips take 3 chains.
  assert chains.count(5, chains.CHAIN_BYTES * 2 // 5) == 3
  # A clip over the budget alone: one clip a chain.
  assert chains.count(4, chains.CHAIN_BYTES * 2) == 4


def test_chains_split_the_batch_axis(monkeypatch):
  monkeypatch.setattr(chains, 'CHAIN_BYTES', 1)
  monkeypatch.setattr(chains, 'MAX_CHAINS', 3)
  seen = []
  batch = jnp.arange(32.0).reshape(16, 2)
  out = chains.run(lambda x: seen.append(x.shape) or x, batch, 10)
  assert seen == [(6, 2), (5, 2), (5, 2)]
  np.testing.assert_array_equal(out, batch)


def test_fused_kernels_on_an_unmeasured_backend_are_warned_about(caplog):
  with caplog.at_level(logging.WARNING, logger='absl'):
    for choice, backend in (('fused', 'cpu'), ('xla', 'gpu'), ('auto', 'gpu')):
      kernels.resolve(choice, backend)
    assert not caplog.records
    kernels.resolve('fused', 'gpu')
  assert [r.getMessage() for r in caplog.records] == [
      "--kernels=fused on gpu: no benchmark here has measured them on this "
      "backend; --kernels=auto would use XLA's"]


@pytest.mark.parametrize('choice,backend,resolved', [
    ('auto', 'cpu', 'fused'), ('auto', 'gpu', 'xla'), ('auto', 'tpu', 'xla'),
    ('xla', 'cpu', 'xla'), ('fused', 'gpu', 'fused')])
def test_auto_uses_fused_kernels_only_where_measured(choice, backend,
                                                     resolved):
  assert kernels.resolve(choice, backend) == resolved


def test_a_constant_group_normalises_to_its_bias_not_nan():
  """Silence gives a log-spectrogram floor: a group with no spread. Its
  variance is 0, and epsilon keeps the normalisation finite."""
  x = jnp.full((1, 4, 4, 16), 2.5, jnp.float32)
  scale, bias = jnp.ones(16), jnp.linspace(-1, 1, 16)
  ours = norm_gelu_pool.norm_gelu_pool(x, scale, bias, 8)
  assert np.all(np.isfinite(ours))
  np.testing.assert_allclose(ours, norm_gelu_pool.reference(x, scale, bias, 8),
                             rtol=1e-6, atol=1e-6)


@pytest.mark.slow  # Seconds of compilation.
@pytest.mark.mutation  # The mutation run checks it too.
def test_bfloat16_activations_keep_their_dtype_and_float32_statistics():
  """In bfloat16 the block returns bfloat16 values and gradients, with its
  statistics and the kernel gradient accumulated in float32: a group far
  from 0 (mean 60, spread 1) normalises as the float32 computation does, to
  bfloat16's rounding."""
  rng = np.random.default_rng(4)
  x = jnp.asarray(60 + rng.standard_normal((2, 8, 8, 16)), jnp.bfloat16)
  scale, bias = jnp.ones(16), jnp.zeros(16)
  out, pullback = jax.vjp(
      lambda x: norm_gelu_pool.norm_gelu_pool(x, scale, bias, 8), x)
  assert out.dtype == jnp.bfloat16
  assert pullback(jnp.ones_like(out))[0].dtype == jnp.bfloat16
  exact = norm_gelu_pool.reference(x.astype(jnp.float32), scale, bias, 8)
  np.testing.assert_allclose(np.asarray(out, np.float32), exact, atol=0.02)
  dy = jnp.asarray(rng.standard_normal((1, 16, 24, 6)), jnp.bfloat16)
  xs = jnp.asarray(rng.standard_normal((1, 16, 24, 4)), jnp.bfloat16)
  exact_grad = conv.kernel_grad_3x3(xs.astype(jnp.float32),
                                    dy.astype(jnp.float32))
  # bfloat16 inputs are exact in float32, so only the order of the sums
  # differs; a bfloat16 accumulator would round each chunk's to 8 bits.
  np.testing.assert_allclose(conv.kernel_grad_3x3(xs, dy), exact_grad,
                             rtol=1e-5, atol=1e-4)
