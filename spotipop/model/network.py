"""The two-tower popularity network: conv tower on audio, dense tower on features.

`kernels` is 'xla' (the plain flax layers below) or 'fused' (the same layers'
functions through spotipop/model/kernels/, faster on CPU); network.create resolves
--kernels for the backend. Both give the same parameter tree, so a
checkpoint restores under either.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from spotipop.audio import spectrogram
from spotipop.audio.decode import PCM_SCALE
from spotipop.config import Config
from spotipop.model import kernels
from spotipop.model.kernels import chains
from spotipop.model.kernels import conv
from spotipop.model.kernels import norm_gelu_pool


class ConvTower(nn.Module):
  """Conv blocks over a [frames, bins] log-spectrogram -> a float32 embedding.

  Each block: a 3x3 conv, GroupNorm, GELU and a 2x2 max pool. Activations
  are computed in `dtype` (bfloat16 halves their memory traffic on
  accelerators); parameters and GroupNorm statistics stay float32.
  """
  channels: Sequence[int]
  dropout: float
  dtype: str = 'float32'
  kernels: str = 'xla'

  @nn.compact
  def __call__(self, spec, train):
    # Per-clip standardisation: loudness is a tabular feature already, and it
    # keeps the conv input well scaled without batch statistics across devices.
    x = (spec - spec.mean(axis=(-2, -1), keepdims=True)) / (
        spec.std(axis=(-2, -1), keepdims=True) + 1e-5)
    x = x[..., None].astype(self.dtype)
    fused = self.kernels == 'fused'
    for i, c in enumerate(self.channels):
      # No bias: GroupNorm removes it, and Adam would turn its zero gradient's
      # rounding noise into real updates.
      x = nn.Conv(c, (3, 3), use_bias=False, dtype=self.dtype,
                  conv_general_dilated=(conv.conv_general_dilated if fused
                                        else None))(x)
      if fused:  # Named as the GroupNorm it replaces: one parameter tree.
        x = norm_gelu_pool.NormGeluPool(min(8, c), name=f'GroupNorm_{i}')(x)
      else:
        x = nn.GroupNorm(num_groups=min(8, c), dtype=self.dtype,
                         name=f'GroupNorm_{i}')(x)
        x = nn.max_pool(nn.gelu(x), (2, 2), strides=(2, 2))
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
  kernels: str = 'xla'

  @nn.compact
  def __call__(self, audio, features, genre_id, train=False, spec=None):
    """audio: [batch, samples], float in [-1, 1] or int16 PCM; None when
    tabular_only, or when spec, its log_spectrogram, is given instead (the
    input that attributions are taken with respect to)."""
    embeddings = []
    if self.towers in ('two_tower', 'audio_only'):
      tower = ConvTower(self.conv_channels, self.dropout, self.dtype,
                        self.kernels)

      def embed(clips):
        return tower(self.log_spectrogram(clips), train)
      if spec is not None:
        embeddings.append(tower(spec, train))
      elif self.kernels == 'fused':
        embeddings.append(chains.run(
            embed, audio, self._first_layer_bytes(audio.shape[-1])))
      else:
        embeddings.append(embed(audio))
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

  def log_spectrogram(self, audio):
    """[batch, samples] clips -> the conv tower's input, [batch, frames, bins]."""
    if audio.dtype == jnp.int16:
      audio = audio.astype(jnp.float32) / PCM_SCALE
    return spectrogram.log_spectrogram(audio, self.sample_rate, self.n_fft,
                                       self.hop_length, self.n_mels)

  def _first_layer_bytes(self, samples):
    """Bytes of one clip's first conv layer output."""
    return (spectrogram.num_frames(samples, self.n_fft, self.hop_length)
            * (self.n_mels or self.n_fft // 2 + 1) * self.conv_channels[0]
            * jnp.dtype(self.dtype).itemsize)


def create(config: Config, num_genres, backend=None):
  """The configured network; num_genres is the train-split vocabulary size.

  --kernels is resolved for `backend` (default: JAX's default backend).
  """
  m = config.model
  return PopularityNet(
      towers=m.towers, sample_rate=config.data.sample_rate, n_fft=m.n_fft,
      hop_length=m.hop_length, n_mels=m.n_mels, conv_channels=m.conv_channels,
      dense_features=m.dense_features, fusion_features=m.fusion_features,
      dropout=m.dropout, num_genres=num_genres,
      genre_embedding=m.genre_embedding, dtype=m.dtype,
      kernels=kernels.resolve(m.kernels, backend or jax.default_backend()))
