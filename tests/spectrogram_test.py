"""The jnp STFT and mel filterbank against librosa, under jit and inside pmap."""

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest

from spotipop import spectrogram


def _signal(batch, samples, seed=0):
  rng = np.random.default_rng(seed)
  t = np.arange(samples) / 16_000
  tones = np.sin(2 * np.pi * rng.uniform(100, 4000, (batch, 1)) * t)
  return (tones + 0.1 * rng.standard_normal((batch, samples))).astype(np.float32)


def _relative_error(ours, reference):
  return np.max(np.abs(ours - reference)) / np.max(np.abs(reference))


@pytest.mark.parametrize('samples,n_fft,hop', [
    (16_000, 512, 256), (16_000, 2048, 512), (12_345, 1024, 256),
    (5_000, 512, 512),
    # Gather path: n_fft not a multiple of hop, or too short for the interleave.
    (16_000, 400, 160), (300, 256, 128), (257, 256, 128)])
def test_stft_matches_librosa(samples, n_fft, hop):
  wave = _signal(3, samples)
  ours = np.asarray(jax.jit(spectrogram.stft, static_argnums=(1, 2))(
      wave, n_fft, hop))
  reference = librosa.stft(wave, n_fft=n_fft, hop_length=hop, window='hann',
                           center=True, pad_mode='reflect')
  reference = np.swapaxes(reference, -1, -2)  # librosa: [..., bins, frames].
  assert ours.shape == reference.shape
  assert ours.shape[-2] == spectrogram.num_frames(samples, n_fft, hop)
  assert _relative_error(ours, reference) < 1e-4


def test_mel_filterbank_matches_librosa():
  ours = spectrogram.mel_filterbank(16_000, 512, 64)
  reference = librosa.filters.mel(sr=16_000, n_fft=512, n_mels=64).T
  np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-7)


def test_log_mel_spectrogram_matches_librosa():
  wave = _signal(2, 8_000)
  ours = np.asarray(jax.jit(spectrogram.log_spectrogram,
                            static_argnums=(1, 2, 3, 4))(wave, 16_000, 512,
                                                         256, 64))
  magnitude = np.abs(librosa.stft(wave, n_fft=512, hop_length=256,
                                    pad_mode='reflect'))
  mel = np.einsum('mf,...ft->...tm',
                  librosa.filters.mel(sr=16_000, n_fft=512, n_mels=64),
                  magnitude)
  np.testing.assert_allclose(ours, np.log(np.maximum(mel, 1e-5)), atol=1e-3)


def test_stft_inside_pmap_equals_single_device():
  assert jax.local_device_count() == 8
  wave = _signal(16, 4_000)
  single = spectrogram.log_spectrogram(jnp.asarray(wave), 16_000, 256, 128, 32)
  sharded = jax.pmap(
      lambda w: spectrogram.log_spectrogram(w, 16_000, 256, 128, 32))(
          wave.reshape(8, 2, -1))
  np.testing.assert_allclose(np.asarray(sharded).reshape(single.shape),
                             np.asarray(single), atol=1e-5)
