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


def num_frames(num_samples, n_fft, hop_length):
  """Frames of a centred STFT (the signal reflect-padded by n_fft // 2)."""
  return 1 + (num_samples + 2 * (n_fft // 2) - n_fft) // hop_length


def _gather_frames(padded, n_fft, hop_length, count):
  index = np.arange(count)[:, None] * hop_length + np.arange(n_fft)[None, :]
  return padded[..., index]


def _centred_frames(wave, n_fft, hop_length):
  """[..., frames, n_fft] frames of the reflect-padded wave, padding only the edges.

  Interior frames never touch the padding. When hop divides n_fft and is
  under n_fft / 2 (the descriptors' 2048 and 512) they are R = n_fft / hop
  interleaved sets of back-to-back frames, each a plain reshape of the
  unpadded signal, so the only full-size copy is the interleave itself; only
  the few edge frames are cut from small reflect-padded pieces. Otherwise
  (hop n_fft / 2 or n_fft, as the model's default 512 and 256) an edge piece
  would be no longer than its padding, which a reflection cannot take, and
  every frame is gathered from the padded signal.
  """
  half, samples = n_fft // 2, wave.shape[-1]
  count = num_frames(samples, n_fft, hop_length)
  phases = n_fft // hop_length
  first = -(-half // hop_length)  # First frame clear of the left padding.
  offset = first * hop_length - half
  interior = max(0, (samples - n_fft - offset) // hop_length + 1)
  groups = interior // phases
  tail_start = first + groups * phases
  head_samples = (first - 1) * hop_length + n_fft - half
  if (n_fft % hop_length or groups == 0 or head_samples <= half
      or samples + half - tail_start * hop_length <= half):
    padded = jnp.pad(wave, [(0, 0)] * (wave.ndim - 1) + [(half, half)],
                     mode='reflect')
    return _gather_frames(padded, n_fft, hop_length, count)
  batch = wave.shape[:-1]
  sets = [wave[..., offset + r * hop_length:
               offset + r * hop_length + groups * n_fft].reshape(
                   *batch, groups, n_fft) for r in range(phases)]
  middle = jnp.stack(sets, axis=-2).reshape(*batch, groups * phases, n_fft)
  no_pad = [(0, 0)] * (wave.ndim - 1)
  head = jnp.pad(wave[..., :head_samples], no_pad + [(half, 0)], mode='reflect')
  tail = jnp.pad(wave[..., tail_start * hop_length - half:],
                 no_pad + [(0, half)], mode='reflect')
  return jnp.concatenate(
      [_gather_frames(head, n_fft, hop_length, first), middle,
       _gather_frames(tail, n_fft, hop_length, count - tail_start)], axis=-2)


def stft(wave, n_fft, hop_length):
  """Complex STFT of wave[..., samples] -> [..., frames, n_fft // 2 + 1].

  Frames are centred: the signal is reflect-padded by n_fft // 2 on both
  sides, as librosa.stft(pad_mode='reflect') and torch.stft(center=True) do,
  so frame t is centred on sample t * hop_length.
  """
  window = jnp.asarray(hann_window(n_fft), wave.dtype)
  return jnp.fft.rfft(_centred_frames(wave, n_fft, hop_length) * window,
                      axis=-1)


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


def _mel_edges(sample_rate, n_mels):
  """n_mels + 2 frequencies in Hz from 0 to Nyquist, evenly spaced in mels:
  each filter rises from one to the next but one, peaking at the one between
  (its centre)."""
  return _mel_to_hz(np.linspace(0.0, _hz_to_mel(sample_rate / 2), n_mels + 2))


@functools.lru_cache(maxsize=16)
def mel_filterbank(sample_rate, n_fft, n_mels):
  """[n_fft // 2 + 1, n_mels] Slaney-normalised triangular filters.

  Matches librosa.filters.mel(htk=False, norm='slaney').T.
  """
  fft_hz = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
  edges = _mel_edges(sample_rate, n_mels)
  widths = np.diff(edges)
  ramps = edges[:, None] - fft_hz[None, :]
  lower = -ramps[:-2] / widths[:-1, None]
  upper = ramps[2:] / widths[1:, None]
  weights = np.maximum(0, np.minimum(lower, upper))
  weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
  return weights.T.astype(np.float32)


def bin_frequencies(sample_rate, n_fft, n_mels):
  """The centre frequency in Hz of each log_spectrogram bin."""
  if not n_mels:
    return np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
  return _mel_edges(sample_rate, n_mels)[1:-1]


def log_spectrogram(wave, sample_rate, n_fft, hop_length, n_mels):
  """log(magnitude) of the STFT, through a mel filterbank when n_mels > 0.

  Returns [..., frames, n_mels or n_fft // 2 + 1].
  """
  magnitude = jnp.abs(stft(wave, n_fft, hop_length))
  if n_mels:
    magnitude = magnitude @ mel_filterbank(sample_rate, n_fft, n_mels)
  return jnp.log(jnp.maximum(magnitude, 1e-5))
