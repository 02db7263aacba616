"""The jnp STFT against scipy's and the mel filterbank against librosa's,
under jit and inside pmap."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import signal

from spotipop.audio import spectrogram

LIBROSA_MEL = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                           'fixtures', 'librosa_0.11.0', 'mel_filterbanks.npz')


def _signal(batch, samples, seed=0):
  rng = np.random.default_rng(seed)
  t = np.arange(samples) / 16_000
  tones = np.sin(2 * np.pi * rng.uniform(100, 4000, (batch, 1)) * t)
  return (tones + 0.1 * rng.standard_normal((batch, samples))).astype(np.float32)


def _relative_error(ours, reference):
  return np.max(np.abs(ours - reference)) / np.max(np.abs(reference))


def _scipy_stft(wave, n_fft, hop):
  """[..., frames, bins]: scipy's STFT of frames centred on every hop,
  reflect-padded at the ends (boundary='even'), as librosa.stft(center=True,
  pad_mode='reflect') computes it; without scipy's 1 / sum(window) scale."""
  window_sum = signal.get_window('hann', n_fft).sum()
  _, _, frames = signal.stft(wave, window='hann', nperseg=n_fft,
                             noverlap=n_fft - hop, boundary='even',
                             padded=False)
  return np.swapaxes(frames * window_sum, -1, -2)


def _librosa_mel(sample_rate, n_fft, n_mels):
  """librosa.filters.mel(...).T, as stored by librosa 0.11.0."""
  with np.load(LIBROSA_MEL) as banks:
    return banks[f'{sample_rate}_{n_fft}_{n_mels}'].T


@pytest.mark.parametrize('samples,n_fft,hop', [
    (16_000, 512, 256), (16_000, 2048, 512), (12_345, 1024, 256),
    (5_000, 512, 512),
    # Gather path: n_fft not a multiple of hop, or too short for the interleave.
    (16_000, 400, 160), (300, 256, 128), (257, 256, 128)])
def test_stft_matches_scipy(samples, n_fft, hop):
  wave = _signal(3, samples)
  ours = np.asarray(jax.jit(spectrogram.stft, static_argnums=(1, 2))(
      wave, n_fft, hop))
  reference = _scipy_stft(wave, n_fft, hop)
  assert ours.shape == reference.shape
  assert ours.shape[-2] == spectrogram.num_frames(samples, n_fft, hop)
  assert _relative_error(ours, reference) < 1e-4


@pytest.mark.parametrize('sample_rate,n_fft,n_mels', [
    (16_000, 512, 64), (8_000, 256, 32), (22_050, 2048, 128)])
def test_mel_filterbank_matches_librosa(sample_rate, n_fft, n_mels):
  np.testing.assert_allclose(
      spectrogram.mel_filterbank(sample_rate, n_fft, n_mels),
      _librosa_mel(sample_rate, n_fft, n_mels), rtol=1e-4, atol=1e-7)


def test_the_stored_filterbanks_are_librosas():
  librosa = pytest.importorskip(
      'librosa', reason="recomputing librosa's filterbanks needs librosa "
      "(pip install -e '.[bench]')")
  with np.load(LIBROSA_MEL) as banks:
    for key in banks.files:
      sample_rate, n_fft, n_mels = map(int, key.split('_'))
      np.testing.assert_allclose(
          banks[key], librosa.filters.mel(sr=sample_rate, n_fft=n_fft,
                                          n_mels=n_mels), rtol=1e-6)


def test_log_mel_spectrogram_matches_scipy_and_librosa():
  wave = _signal(2, 8_000)
  ours = np.asarray(jax.jit(spectrogram.log_spectrogram,
                            static_argnums=(1, 2, 3, 4))(wave, 16_000, 512,
                                                         256, 64))
  mel = np.abs(_scipy_stft(wave, 512, 256)) @ _librosa_mel(16_000, 512, 64)
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
