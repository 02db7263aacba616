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
    (16_000, 400, 160), (300, 256, 128), (257, 256, 128),
    # Short waves where the edge pieces meet their padding's length, and hop
    # not dividing n_fft / 2 (the first interior frame starts past it).
    (27, 16, 8), (27, 16, 4), (30, 16, 4), (43, 24, 8), (61, 24, 8)])
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


def _gathered_frames(samples, n_fft, hop):
  """Frames the STFT of a [1, samples] wave copies by gather (not reshape)."""
  jaxpr = jax.make_jaxpr(lambda w: spectrogram.stft(w, n_fft, hop))(
      jnp.zeros((1, samples), jnp.float32))
  return sum(int(np.prod(e.outvars[0].aval.shape)) for e in jaxpr.eqns
             if e.primitive.name == 'gather') // n_fft


@pytest.mark.parametrize('samples,n_fft,hop', [
    (16_000, 2048, 512), (12_345, 1024, 256), (16_000, 400, 100),
    (661_500, 2048, 512), (64, 24, 8), (40, 16, 4)])
def test_when_hop_divides_n_fft_only_the_edge_frames_are_gathered(samples,
                                                                   n_fft, hop):
  """The interior frames are reshapes of the signal (the module's promise for
  hop < n_fft / 2): only the frames that reach into the reflect padding at
  either end, and fewer than n_fft / hop interior ones beside them, are
  gathered."""
  edge = -(-(n_fft // 2) // hop)  # Frames reaching into one end's padding.
  count = spectrogram.num_frames(samples, n_fft, hop)
  assert _gathered_frames(samples, n_fft, hop) <= 2 * edge + n_fft // hop
  assert count > 2 * edge + n_fft // hop  # A gather of all would show.


def _slaney_mel(hz):
  """Slaney's mel scale (Auditory Toolbox): 3 mels per 200 Hz up to 1 kHz
  (15 mels), then 27 mels per factor of 6.4."""
  hz = np.asarray(hz, np.float64)
  return np.where(hz < 1000, 3 * hz / 200,
                  15 + 27 * np.log(np.maximum(hz, 1000) / 1000) / np.log(6.4))


@pytest.mark.parametrize('sample_rate', [1000, 2001, 16_000, 22_050])
def test_bin_frequencies_are_the_mel_band_centres_or_the_fft_bins(
    sample_rate):
  centres = spectrogram.bin_frequencies(sample_rate, 512, 10)
  # Evenly spaced in mels from 0 to Nyquist, the two edges left out.
  np.testing.assert_allclose(
      _slaney_mel(centres),
      np.linspace(0, _slaney_mel(sample_rate / 2), 12)[1:-1], rtol=1e-12)
  if sample_rate / 2 <= 1000:  # All linear: evenly spaced in Hz too.
    np.testing.assert_allclose(
        centres, np.linspace(0, sample_rate / 2, 12)[1:-1], rtol=1e-12)
  np.testing.assert_array_equal(spectrogram.bin_frequencies(sample_rate, 512, 0),
                                np.arange(257) * sample_rate / 512)


def test_any_leading_shape_is_framed_as_its_rows_are():
  """stft takes [..., samples]: one wave, or a batch of batches."""
  waves = _signal(6, 2_345).reshape(2, 3, -1)
  rows = np.stack([np.asarray(spectrogram.stft(w, 1024, 256)) for w in
                   waves.reshape(6, -1)]).reshape(2, 3, -1, 513)
  np.testing.assert_array_equal(
      np.asarray(spectrogram.stft(waves, 1024, 256)), rows)
  np.testing.assert_allclose(np.asarray(spectrogram.stft(waves[0, 0], 1024, 256)),
                             _scipy_stft(waves[0, 0], 1024, 256), rtol=0,
                             atol=1e-4 * np.abs(rows[0, 0]).max())
