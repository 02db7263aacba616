"""The two-tower popularity network: conv tower on audio, dense tower on features."""

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from spotipop import spectrogram
from spotipop.audio import PCM_SCALE
from spotipop.config import Config


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv_3x3(x, kernel, dimension_numbers):
  """A stride-1 'SAME' 3x3 convolution (NHWC, HWIO) whose kernel gradient is
  nine matmuls of shifted inputs against the output gradient.

  XLA:CPU computes the kernel gradient of these layers 5-20x slower than the
  forward convolution (a 32x62x16x32 input: 0.46 s against 0.02 s); the
  matmuls take 0.07 s. Values and the input gradient are XLA's own.
  """
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), 'SAME',
                                      dimension_numbers=dimension_numbers)


def _conv_3x3_forward(x, kernel, dimension_numbers):
  return _conv_3x3(x, kernel, dimension_numbers), (x, kernel)


def _conv_3x3_backward(dimension_numbers, saved, dy):
  x, kernel = saved
  _, input_grad = jax.vjp(
      lambda x: jax.lax.conv_general_dilated(
          x, kernel, (1, 1), 'SAME', dimension_numbers=dimension_numbers), x)
  height, width = x.shape[1:3]
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  kernel_grad = jnp.stack([jnp.stack([
      jnp.einsum('bhwc,bhwo->co', padded[:, i:i + height, j:j + width], dy,
                 preferred_element_type=jnp.float32)
      for j in range(3)]) for i in range(3)])
  return input_grad(dy)[0], kernel_grad.astype(kernel.dtype)


_conv_3x3.defvjp(_conv_3x3_forward, _conv_3x3_backward)


def _conv_fast_kernel_grad(lhs, rhs, window_strides, padding, lhs_dilation,
                           rhs_dilation, dimension_numbers, feature_group_count,
                           precision):
  """nn.Conv's conv_general_dilated for the conv tower's layers on CPU."""
  del padding, lhs_dilation, rhs_dilation, precision  # 'SAME', 1, 1, default.
  assert rhs.shape[:2] == (3, 3) and tuple(window_strides) == (1, 1)
  assert feature_group_count == 1
  return _conv_3x3(lhs, rhs, dimension_numbers)


def _max_pool_2x2(x):
  """nn.max_pool(x, (2, 2), strides=(2, 2)) as a reshape and a max.

  The same values; the gradient is an elementwise mask instead of XLA's
  select-and-scatter, which takes a third of the conv tower's backward pass
  on CPU.
  """
  b, h, w, c = x.shape
  x = x[:, :h // 2 * 2, :w // 2 * 2]
  return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


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
      x = nn.GroupNorm(num_groups=min(8, c), dtype=self.dtype)(x)
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
