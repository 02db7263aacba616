"""Short-time Fourier transform and log-mel features in jax.numpy.

These run inside the compiled train/eval step, so the accelerator turns raw
waveforms into spectrograms and the host only ships audio. Keep them inside
pmap/shard_map: under an auto-sharded jit, XLA gathers a batch-sharded input
to every device before an FFT.
"""

import functools

import jax.numpy as jnp
import numpy as np


def hann_window(n_fft):
  """Periodic Hann window (the spectral-analysis convention of scipy/librosa)."""
  return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)


def num_frames(num_samples, n_fft, hop_length, center=True):
  padded = num_samples + (2 * (n_fft // 2) if center else 0)
  return 1 + (padded - n_fft) // hop_length


def stft(wave, n_fft, hop_length, center=True):
  """Complex STFT of wave[..., samples] -> [..., frames, n_fft // 2 + 1].

  With center=True the signal is reflect-padded by n_fft // 2 on both sides, as
  librosa.stft and torch.stft(center=True) do, so frame t is centred on sample
  t * hop_length.
  """
  if center:
    pad = [(0, 0)] * (wave.ndim - 1) + [(n_fft // 2, n_fft // 2)]
    wave = jnp.pad(wave, pad, mode='reflect')
  frames = num_frames(wave.shape[-1], n_fft, hop_length, center=False)
  if n_fft % hop_length == 0:
    # Frames as strided views: n_fft / hop overlapping slices of hop-sized
    # blocks. Cheaper than a gather, and it lowers to plain slices.
    blocks = wave[..., :(frames - 1 + n_fft // hop_length) * hop_length]
    blocks = blocks.reshape(*wave.shape[:-1], -1, hop_length)
    framed = jnp.concatenate(
        [blocks[..., k:k + frames, :] for k in range(n_fft // hop_length)],
        axis=-1)
  else:
    index = (np.arange(frames)[:, None] * hop_length +
             np.arange(n_fft)[None, :])
    framed = wave[..., index]
  window = jnp.asarray(hann_window(n_fft), wave.dtype)
  return jnp.fft.rfft(framed * window, axis=-1)


def _hz_to_mel(hz):
  """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
  hz = np.asarray(hz, np.float64)
  linear = hz / (200.0 / 3)
  log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27)
  return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel):
  mel = np.asarray(mel, np.float64)
  linear = mel * (200.0 / 3)
  log_part = 1000.0 * np.exp((np.log(6.4) / 27) * (mel - 15.0))
  return np.where(mel >= 15.0, log_part, linear)


@functools.lru_cache(maxsize=16)
def mel_filterbank(sample_rate, n_fft, n_mels, fmin=0.0, fmax=None):
  """[n_fft // 2 + 1, n_mels] Slaney-normalised triangular filters.

  Matches librosa.filters.mel(htk=False, norm='slaney').T.
  """
  fmax = sample_rate / 2 if fmax is None else fmax
  fft_hz = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
  edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax),
                                 n_mels + 2))
  widths = np.diff(edges)
  ramps = edges[:, None] - fft_hz[None, :]
  lower = -ramps[:-2] / widths[:-1, None]
  upper = ramps[2:] / widths[1:, None]
  weights = np.maximum(0, np.minimum(lower, upper))
  weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
  return weights.T.astype(np.float32)


def log_spectrogram(wave, sample_rate, n_fft, hop_length, n_mels):
  """log(magnitude) of the STFT, through a mel filterbank when n_mels > 0.

  Returns [..., frames, n_mels or n_fft // 2 + 1].
  """
  magnitude = jnp.abs(stft(wave, n_fft, hop_length))
  if n_mels:
    magnitude = magnitude @ mel_filterbank(sample_rate, n_fft, n_mels)
  return jnp.log(jnp.maximum(magnitude, 1e-5))
