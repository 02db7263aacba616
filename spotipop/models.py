"""The two-tower popularity network: conv tower on audio, dense tower on features."""

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from spotipop import spectrogram
from spotipop.audio import PCM_SCALE
from spotipop.config import Config


_NHWC = ('NHWC', 'HWIO', 'NHWC')
# Output positions per step of the kernel gradient's loop: the step's patch
# matrix (9 * channels x 4096 floats) stays in cache.
_KERNEL_GRAD_CHUNK = 4096
# On CPU, the audio path runs as independent chains, each over a chunk of the
# batch whose first conv layer's output holds at most this many bytes (4
# clips at the default settings; chunks of 2 and 4 clips trained as fast, 8
# slower), and at most this many chains (each is a copy of the path in the
# compiled step).
_CPU_CHAIN_BYTES = 4 * 2**20
_CPU_MAX_CHAINS = 8
# Below this size of input plus output gradient, XLA's own kernel gradient is
# the faster (benchmarks/conv_grads.py: the loop ran at 0.78x XLA at 4 clips
# of the default settings, 1.34-2.17x from 6 MB up at 32 clips). Chains of 4
# default clips stay under it; the paper's 30 s clips do not.
_KERNEL_GRAD_LOOP_MIN_BYTES = 5 * 2**20


@jax.custom_vjp
def _conv_3x3(x, kernel):
  """A stride-1 'SAME' 3x3 convolution (NHWC, HWIO) for CPU: faster for a
  single input channel (`_single_channel_conv_3x3`) and, for large layers,
  with a faster kernel gradient (`_kernel_grad_3x3`). Otherwise, and for
  the input gradient, XLA's own."""
  if x.shape[-1] == 1:
    return _single_channel_conv_3x3(x, kernel)
  return _xla_conv_3x3(x, kernel)


def _xla_conv_3x3(x, kernel):
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), 'SAME',
                                      dimension_numbers=_NHWC)


def _single_channel_conv_3x3(x, kernel):
  """The first layer's convolution, of the spectrogram, as nine shifted
  multiply-adds: XLA:CPU's convolution of [32, 251, 64, 1] into 16 channels
  took 14.9 ms, this 3.8 ms (each jitted and timed alone on a 2-core CPU)."""
  _, h, w, _ = x.shape
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  y = sum(padded[:, i:i + h, j:j + w] * kernel[i, j, 0]
          for i in range(3) for j in range(3))
  # Written out once: otherwise XLA recomputes it inside every consumer.
  return jax.lax.optimization_barrier(y)


def _conv_3x3_forward(x, kernel):
  return _conv_3x3(x, kernel), (x, kernel)


def _conv_3x3_backward(saved, dy):
  x, kernel = saved
  if (x.size + dy.size) * x.dtype.itemsize < _KERNEL_GRAD_LOOP_MIN_BYTES:
    return jax.vjp(_xla_conv_3x3, x, kernel)[1](dy)
  _, input_grad = jax.vjp(lambda x: _xla_conv_3x3(x, kernel), x)
  return input_grad(dy)[0], _kernel_grad_3x3(x, dy).astype(kernel.dtype)


_conv_3x3.defvjp(_conv_3x3_forward, _conv_3x3_backward)


def _kernel_grad_3x3(x, dy):
  """d(loss)/d(kernel) [3, 3, c, o] of a 'SAME' 3x3 convolution, as matmuls
  of patches built in cache a chunk of positions at a time.

  XLA:CPU computes this gradient as a convolution with an image-sized window,
  up to 5x slower than the forward convolution at the default settings and
  12x at the paper's (benchmarks/conv_grads.py). Here x is channel-major and
  flattened over (b, h, w), so tap (i, j) of position n reads x at
  n + (i - 1) * w + (j - 1); the taps that would cross an image edge are
  masked to the zero padding. dy is read in place, and each step multiplies a
  [9 * c, chunk] patch matrix by a [chunk, o] slice of it.
  """
  b, h, w, c = x.shape
  positions = b * h * w
  chunk = min(_KERNEL_GRAD_CHUNK, positions)
  x_flat = jnp.pad(jnp.moveaxis(x, -1, 0).reshape(c, positions),
                   ((0, 0), (w + 1, w + 1)))
  dy_flat = dy.reshape(positions, -1)

  def accumulate(step, total):
    # The last step ends at the last position; what earlier steps summed
    # is masked out of it.
    start = jnp.minimum(step * chunk, positions - chunk)
    n = start + jnp.arange(chunk)
    row, column = n // w % h, n % w
    window = jax.lax.dynamic_slice_in_dim(x_flat, start, chunk + 2 * w + 2,
                                          axis=1)
    patches = []
    for i in range(3):
      for j in range(3):
        inside = ((n >= step * chunk) & (row + i - 1 >= 0) & (row + i - 1 < h)
                  & (column + j - 1 >= 0) & (column + j - 1 < w))
        tap = window[:, i * w + j:i * w + j + chunk]
        patches.append(jnp.where(inside, tap, jnp.zeros_like(tap)))
    return total + jnp.matmul(
        jnp.concatenate(patches),
        jax.lax.dynamic_slice_in_dim(dy_flat, start, chunk),
        preferred_element_type=jnp.float32)

  total = jax.lax.fori_loop(
      0, -(-positions // chunk), accumulate,
      jnp.zeros((9 * c, dy.shape[-1]), jnp.float32))
  return total.reshape(3, 3, c, -1)


def _conv_fast_kernel_grad(lhs, rhs, window_strides, padding, lhs_dilation,
                           rhs_dilation, dimension_numbers, feature_group_count,
                           precision):
  """nn.Conv's conv_general_dilated for the conv tower's layers on CPU."""
  del padding, lhs_dilation, rhs_dilation, precision  # 'SAME', 1, 1, default.
  assert rhs.shape[:2] == (3, 3) and tuple(window_strides) == (1, 1)
  assert feature_group_count == 1
  assert dimension_numbers == jax.lax.conv_dimension_numbers(
      lhs.shape, rhs.shape, _NHWC)
  return _conv_3x3(lhs, rhs)


def _group_statistics(x, num_groups, epsilon):
  """Float32 mean and 1/std [b, c] of the group of each channel of x [b, h, w,
  c], summed over h and w per channel, then over the group's channels.

  On XLA:CPU that runs 2-7x faster, at the conv tower's shapes, than reducing
  the [b, h, w, groups, c/groups] view that nn.GroupNorm reduces.
  """
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
def _norm_gelu_pool(x, scale, bias, num_groups, epsilon):
  """nn.max_pool(nn.gelu(nn.GroupNorm(x)), (2, 2), strides=(2, 2)) as one
  function, with the same values and gradients.

  The pool passes gradient only to the first maximum of each window (as
  XLA's select-and-scatter does), so the backward pass keeps the int8 window
  position of that maximum and the input there, works out GELU's and the
  scale's gradients at a quarter of the positions, and writes the input
  gradient in one pass over x. Composed, XLA:CPU writes the normalized
  input, its GELU, the pool's gradient and each of their gradients out as
  separate tensors of the block's largest size.
  """
  return functools.reduce(jnp.maximum,
                          _norm_gelu_taps(x, scale, bias, num_groups,
                                          epsilon)[2])


def _norm_gelu_pool_forward(x, scale, bias, num_groups, epsilon):
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


def _norm_gelu_pool_backward(num_groups, epsilon, saved, d_pooled):
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


_norm_gelu_pool.defvjp(_norm_gelu_pool_forward, _norm_gelu_pool_backward)


class NormGeluPool(nn.Module):
  """GroupNorm, GELU and a 2x2 max pool over [b, h, w, c], the tail of a conv
  block (`_norm_gelu_pool`).

  The parameters are nn.GroupNorm's ('scale', 'bias'), and its epsilon; the
  statistics are float32, the output is in x's dtype.
  """
  num_groups: int
  epsilon: float = 1e-6

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    scale = self.param('scale', nn.initializers.ones, (c,))
    bias = self.param('bias', nn.initializers.zeros, (c,))
    return _norm_gelu_pool(x, scale, bias, self.num_groups, self.epsilon)


class ConvTower(nn.Module):
  """Conv blocks over a [frames, bins] log-spectrogram -> a float32 embedding.

  Activations are computed in `dtype` (bfloat16 halves their memory traffic on
  accelerators); parameters and GroupNorm statistics stay float32.
  """
  channels: Sequence[int]
  dropout: float
  dtype: str = 'float32'

  @nn.compact
  def __call__(self, spec, train):
    # Per-clip standardisation: loudness is a tabular feature already, and it
    # keeps the conv input well scaled without batch statistics across devices.
    x = (spec - spec.mean(axis=(-2, -1), keepdims=True)) / (
        spec.std(axis=(-2, -1), keepdims=True) + 1e-5)
    x = x[..., None].astype(self.dtype)
    conv = (_conv_fast_kernel_grad if jax.default_backend() == 'cpu'
            else None)  # None: XLA's convolution, gradients included.
    for i, c in enumerate(self.channels):
      # No bias: GroupNorm removes it, and Adam would turn its zero gradient's
      # rounding noise into real updates.
      x = nn.Conv(c, (3, 3), use_bias=False, dtype=self.dtype,
                  conv_general_dilated=conv)(x)
      # Named as the nn.GroupNorm it replaces, so checkpoints keep their tree.
      x = NormGeluPool(num_groups=min(8, c), name=f'GroupNorm_{i}')(x)
    x = jnp.concatenate([x.mean(axis=(1, 2)), x.max(axis=(1, 2))], axis=-1)
    return nn.Dropout(self.dropout, deterministic=not train)(
        x.astype(jnp.float32))


class DenseTower(nn.Module):
  """MLP over standardised tabular features and a genre embedding."""
  features: Sequence[int]
  dropout: float
  num_genres: int
  genre_embedding: int

  @nn.compact
  def __call__(self, x, genre_id, train):
    if self.genre_embedding:
      # One extra row for genres not seen in training.
      genre = nn.Embed(self.num_genres + 1, self.genre_embedding)(genre_id)
      x = jnp.concatenate([x, genre], axis=-1)
    for width in self.features:
      x = nn.gelu(nn.Dense(width)(x))
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return x


class PopularityNet(nn.Module):
  """Fuses the towers; returns (popular logit, popularity score in [0, 1]).

  `towers` selects the ablation: both towers, audio only or tabular only. The
  spectrogram is computed here, so it runs wherever the model runs.
  """
  towers: str
  sample_rate: int
  n_fft: int
  hop_length: int
  n_mels: int
  conv_channels: Sequence[int]
  dense_features: Sequence[int]
  fusion_features: int
  dropout: float
  num_genres: int
  genre_embedding: int
  dtype: str = 'float32'

  @nn.compact
  def __call__(self, audio, features, genre_id, train=False):
    """audio: [batch, samples], float in [-1, 1] or int16 PCM; None when tabular_only."""
    embeddings = []
    if self.towers in ('two_tower', 'audio_only'):
      if audio.dtype == jnp.int16:
        audio = audio.astype(jnp.float32) / PCM_SCALE
      tower = ConvTower(self.conv_channels, self.dropout, self.dtype)

      def embed(audio):
        spec = spectrogram.log_spectrogram(audio, self.sample_rate, self.n_fft,
                                           self.hop_length, self.n_mels)
        return tower(spec, train)
      chains = (self._cpu_chains(audio) if jax.default_backend() == 'cpu'
                else 1)
      embeddings.append(jnp.concatenate(
          [embed(chunk) for chunk in jnp.array_split(audio, chains)]))
    if self.towers in ('two_tower', 'tabular_only'):
      embeddings.append(DenseTower(
          self.dense_features, self.dropout, self.num_genres,
          self.genre_embedding)(features, genre_id, train))
    x = jnp.concatenate(embeddings, axis=-1)
    x = nn.gelu(nn.Dense(self.fusion_features)(x))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    logit = nn.Dense(1)(x)[..., 0]
    score = nn.sigmoid(nn.Dense(1)(x)[..., 0])
    return logit, score

  def _cpu_chains(self, audio):
    """How many chunks of the batch the audio path runs on, side by side.

    XLA:CPU runs many of the tower's operations (its convolutions among them)
    on one thread. Independent chains let it run them on every core at once,
    and keep each chain's activations small enough to stay in cache.
    """
    first_layer_bytes = (
        spectrogram.num_frames(audio.shape[-1], self.n_fft, self.hop_length)
        * (self.n_mels or self.n_fft // 2 + 1) * self.conv_channels[0]
        * jnp.dtype(self.dtype).itemsize)
    clips = max(1, _CPU_CHAIN_BYTES // first_layer_bytes)
    return min(_CPU_MAX_CHAINS, -(-audio.shape[0] // clips))


def create(config: Config, num_genres):
  """The configured network; num_genres is the train-split vocabulary size."""
  m = config.model
  return PopularityNet(
      towers=m.towers, sample_rate=config.data.sample_rate, n_fft=m.n_fft,
      hop_length=m.hop_length, n_mels=m.n_mels, conv_channels=m.conv_channels,
      dense_features=m.dense_features, fusion_features=m.fusion_features,
      dropout=m.dropout, num_genres=num_genres,
      genre_embedding=m.genre_embedding, dtype=m.dtype)
