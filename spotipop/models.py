"""The two-tower popularity network: conv tower on audio, dense tower on features."""

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
# Below this size of input plus output gradient, XLA's own kernel gradient is
# the faster (benchmarks/conv_grads.py: 0.78x at 4 clips of the default
# settings, 1.34-2.17x from 6 MB up at 32 clips).
_KERNEL_GRAD_LOOP_MIN_BYTES = 5 * 2**20


@jax.custom_vjp
def _conv_3x3(x, kernel):
  """A stride-1 'SAME' 3x3 convolution (NHWC, HWIO) with a faster kernel
  gradient on CPU for large layers (`_kernel_grad_3x3`). Values, the input
  gradient and small layers' kernel gradient are XLA's own."""
  return _xla_conv_3x3(x, kernel)


def _xla_conv_3x3(x, kernel):
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), 'SAME',
                                      dimension_numbers=_NHWC)


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


def _pool_windows(x):
  """[b, h, w, c] -> [b, h // 2, 2, w // 2, 2, c], the 2x2 windows; an odd
  last row or column belongs to none."""
  b, h, w, c = x.shape
  return x[:, :h // 2 * 2, :w // 2 * 2].reshape(b, h // 2, 2, w // 2, 2, c)


@jax.custom_vjp
def _max_pool_2x2(x):
  """nn.max_pool(x, (2, 2), strides=(2, 2)) as a reshape and a max.

  The same values and gradient: the gradient goes to the first maximum of
  each window, as XLA's select-and-scatter does, but through the window
  position of that maximum, kept as int8, and elementwise selects.
  Select-and-scatter, or the gradient of a max reduction (which splits ties),
  takes a third of the conv tower's backward pass on CPU.
  """
  return _pool_windows(x).max(axis=(2, 4))


def _max_pool_2x2_forward(x):
  windows = _pool_windows(x)
  pooled = windows.max(axis=(2, 4))
  first = jnp.full(pooled.shape, 3, jnp.int8)
  for position in (2, 1, 0):
    i, j = divmod(position, 2)
    first = jnp.where(windows[:, :, i, :, j] == pooled,
                      jnp.int8(position), first)
  return pooled, (first, x.shape)


def _max_pool_2x2_backward(saved, dy):
  first, (b, h, w, c) = saved
  zero = jnp.zeros_like(dy)
  rows = [jnp.stack([jnp.where(first == 2 * i + j, dy, zero)
                     for j in range(2)], axis=3) for i in range(2)]
  grad = jnp.stack(rows, axis=2).reshape(b, h // 2 * 2, w // 2 * 2, c)
  return (jnp.pad(grad, ((0, 0), (0, h % 2), (0, w % 2), (0, 0))),)


_max_pool_2x2.defvjp(_max_pool_2x2_forward, _max_pool_2x2_backward)


class GroupNorm(nn.Module):
  """nn.GroupNorm over [b, h, w, c]: the same parameters, epsilon and
  statistics, summed over h and w per channel, then over each group's
  channels.

  On XLA:CPU that runs 2-7x faster forward, at the conv tower's shapes, than
  reducing the [b, h, w, groups, c/groups] view that nn.GroupNorm reduces.
  Statistics are float32 whatever the dtype.
  """
  num_groups: int
  dtype: str = 'float32'
  epsilon: float = 1e-6

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    size = c // self.num_groups
    scale = self.param('scale', nn.initializers.ones, (c,))
    bias = self.param('bias', nn.initializers.zeros, (c,))
    x32 = x.astype(jnp.float32)

    def group_mean(per_channel_sum):
      total = per_channel_sum.reshape(b, self.num_groups, size).sum(-1)
      return jnp.repeat(total / (h * w * size), size, axis=-1)

    mean = group_mean(x32.sum(axis=(1, 2)))
    # E[x^2] - E[x]^2 in one pass over x, as nn.GroupNorm computes it.
    var = jnp.maximum(group_mean((x32 * x32).sum(axis=(1, 2))) - mean ** 2,
                      0.0)
    multiplier = jax.lax.rsqrt(var + self.epsilon) * scale
    return ((x32 - mean[:, None, None]) * multiplier[:, None, None]
            + bias).astype(self.dtype)


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
    for c in self.channels:
      # No bias: GroupNorm removes it, and Adam would turn its zero gradient's
      # rounding noise into real updates.
      x = nn.Conv(c, (3, 3), use_bias=False, dtype=self.dtype,
                  conv_general_dilated=conv)(x)
      x = GroupNorm(num_groups=min(8, c), dtype=self.dtype)(x)
      x = nn.gelu(x)
      x = _max_pool_2x2(x)
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
      spec = spectrogram.log_spectrogram(audio, self.sample_rate, self.n_fft,
                                         self.hop_length, self.n_mels)
      embeddings.append(ConvTower(self.conv_channels, self.dropout,
                                  self.dtype)(spec, train))
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


def create(config: Config, num_genres):
  """The configured network; num_genres is the train-split vocabulary size."""
  m = config.model
  return PopularityNet(
      towers=m.towers, sample_rate=config.data.sample_rate, n_fft=m.n_fft,
      hop_length=m.hop_length, n_mels=m.n_mels, conv_channels=m.conv_channels,
      dense_features=m.dense_features, fusion_features=m.fusion_features,
      dropout=m.dropout, num_genres=num_genres,
      genre_embedding=m.genre_embedding, dtype=m.dtype)
