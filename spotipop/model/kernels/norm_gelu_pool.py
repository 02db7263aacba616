"""GroupNorm, GELU and a 2x2 max pool as one function, beside the composed
flax version (`reference`) whose values and gradients it gives.

Composed, XLA:CPU writes the normalized input, its GELU, the pool's gradient
and each of their gradients out as separate tensors of the block's largest
size, and reduces GroupNorm's [b, h, w, groups, c/groups] view with slow
kernels. Here the statistics are summed per channel first, and the backward
pass keeps only the int8 window position of each pool window's first maximum
and the input there (the pool passes gradient only to that first maximum, as
XLA's select-and-scatter does), works out GELU's and the scale's gradients at
a quarter of the positions, and writes the input gradient in one pass.
Measured in benchmarks/README.md (the train step, before and after).
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp


def reference(x, scale, bias, num_groups, epsilon=1e-6):
  """The plain version: nn.GroupNorm, nn.gelu and nn.max_pool composed."""
  norm = nn.GroupNorm(num_groups=num_groups, epsilon=epsilon, dtype=x.dtype)
  y = norm.apply({'params': {'scale': scale, 'bias': bias}}, x)
  return nn.max_pool(nn.gelu(y), (2, 2), strides=(2, 2))


def _group_statistics(x, num_groups, epsilon):
  """Float32 mean and 1/std [b, c] of the group of each channel of x [b, h, w,
  c], summed over h and w per channel, then over the group's channels."""
  x32, positions = x.astype(jnp.float32), x.shape[1] * x.shape[2]
  mean = _group_mean(x32.sum(axis=(1, 2)), num_groups, positions)
  # E[x^2] - E[x]^2 in one pass over x, as nn.GroupNorm computes it.
  var = jnp.maximum(_group_mean((x32 * x32).sum(axis=(1, 2)), num_groups,
                                positions) - mean ** 2, 0.0)
  return mean, jax.lax.rsqrt(var + epsilon)


def _group_mean(per_channel_sum, num_groups, positions):
  """[b, c] sums over `positions` positions per channel -> [b, c] the mean
  over each channel's group."""
  b, c = per_channel_sum.shape
  size = c // num_groups
  total = per_channel_sum.reshape(b, num_groups, size).sum(-1)
  return jnp.repeat(total / (positions * size), size, axis=-1)


def _pool_taps(x):
  """The four [b, h // 2, w // 2, c] strided views of x's 2x2 windows, in
  row-major window order; an odd last row or column belongs to none."""
  h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
  return [x[:, i:h:2, j:w:2] for i in range(2) for j in range(2)]


def _centred_times(x, mean, factor):
  """(x - mean) * factor in float32; mean and factor are [b, c]."""
  return (x.astype(jnp.float32) - mean[:, None, None]) * factor[:, None, None]


def _gelu_input(x, mean, rstd, scale, bias):
  return (_centred_times(x, mean, rstd * scale) + bias).astype(x.dtype)


def _norm_gelu_taps(x, scale, bias, num_groups, epsilon):
  mean, rstd = _group_statistics(x, num_groups, epsilon)
  return mean, rstd, [nn.gelu(_gelu_input(tap, mean, rstd, scale, bias))
                      for tap in _pool_taps(x)]


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def norm_gelu_pool(x, scale, bias, num_groups, epsilon=1e-6):
  """reference(x, scale, bias, num_groups, epsilon), values and gradients."""
  return functools.reduce(jnp.maximum,
                          _norm_gelu_taps(x, scale, bias, num_groups,
                                          epsilon)[2])


def _forward(x, scale, bias, num_groups, epsilon):
  mean, rstd, activations = _norm_gelu_taps(x, scale, bias, num_groups,
                                            epsilon)
  pooled = functools.reduce(jnp.maximum, activations)
  taps = _pool_taps(x)
  first, x_first = jnp.full(pooled.shape, 3, jnp.int8), taps[3]
  for position in (2, 1, 0):
    is_max = activations[position] == pooled
    first = jnp.where(is_max, jnp.int8(position), first)
    x_first = jnp.where(is_max, taps[position], x_first)
  return pooled, (x, scale, bias, mean, rstd, first, x_first)


def _backward(num_groups, epsilon, saved, d_pooled):
  del epsilon  # In rstd already.
  x, scale, bias, mean, rstd, first, x_first = saved
  b, h, w, c = x.shape
  # At the first maximum of each window, the only positions the pool's
  # gradient reaches.
  d_gelu_input = jax.vjp(nn.gelu, _gelu_input(
      x_first, mean, rstd, scale, bias))[1](d_pooled)[0].astype(jnp.float32)
  normalized_first = _centred_times(x_first, mean, rstd)
  d_normalized = d_gelu_input * scale

  def group_mean(per_window_value):  # Zero away from the first maxima.
    return _group_mean(per_window_value.sum(axis=(1, 2)), num_groups,
                       h * w)[:, None, None]

  # The gradient of the normalization (x - mean) * rstd, whose statistics
  # depend on every x of the group.
  mean_d = group_mean(d_normalized)
  mean_d_times_normalized = group_mean(d_normalized * normalized_first)
  h2, w2 = h // 2 * 2, w // 2 * 2

  def upsampled(a):  # [b, h // 2, w // 2, c] -> [b, h2, w2, c], 2x2 repeats.
    return jnp.broadcast_to(a[:, :, None, :, None],
                            (b, h // 2, 2, w // 2, 2, c)).reshape(b, h2, w2, c)
  row = jax.lax.broadcasted_iota(jnp.int32, (b, h2, w2, c), 1)
  column = jax.lax.broadcasted_iota(jnp.int32, (b, h2, w2, c), 2)
  at_first = jnp.where(upsampled(first) == row % 2 * 2 + column % 2,
                       upsampled(d_normalized), 0.0)
  d_x = rstd[:, None, None] * (
      jnp.pad(at_first, ((0, 0), (0, h - h2), (0, w - w2), (0, 0)))
      - mean_d - _centred_times(x, mean, rstd) * mean_d_times_normalized)
  return (d_x.astype(x.dtype), (d_gelu_input * normalized_first).sum((0, 1, 2)),
          d_gelu_input.sum((0, 1, 2)))


norm_gelu_pool.defvjp(_forward, _backward)


class NormGeluPool(nn.Module):
  """norm_gelu_pool as a layer with nn.GroupNorm's parameters ('scale',
  'bias') and epsilon, so a checkpoint of either restores into the other.
  The statistics are float32; the output is in x's dtype."""
  num_groups: int
  epsilon: float = 1e-6

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    scale = self.param('scale', nn.initializers.ones, (c,))
    bias = self.param('bias', nn.initializers.zeros, (c,))
    return norm_gelu_pool(x, scale, bias, self.num_groups, self.epsilon)
