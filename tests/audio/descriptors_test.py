"""Descriptors against reference implementations and known answers.

Loudness against pyloudnorm (the reference BS.1770 implementation) and EBU
Tech 3341/3342's test signals; tempo on drum patterns and key on cadences
whose truth is known; the spectral and MFCC descriptors against librosa's
values for the same signals (stored in tests/fixtures/librosa_0.11.0, and
recomputed when librosa is installed).
"""

import os

import numpy as np
import pytest

import signals
from spotipop.audio import descriptor_names
from spotipop.audio import descriptors

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures',
                       'librosa_0.11.0', 'descriptors.npz')
SR = 22050


def _describe(waves, sample_rate=SR, stereo=None):
  """{name: values} of describe over a batch of equal-length mono waves."""
  waves = np.asarray(waves, np.float32)
  channels = (np.stack([waves, np.zeros_like(waves)], 1) if stereo is None
              else np.asarray(stereo, np.float32))
  out = np.asarray(descriptors.describe(
      waves, channels, np.full(len(waves), waves.shape[-1]),
      sample_rate=sample_rate))
  return dict(zip(descriptor_names.COMPUTED, out.T))


def _loudness(channels, sample_rate):
  """(integrated, range) of one [C, N] signal; C = 1 or 2."""
  channels = np.asarray(channels, np.float32)
  if channels.shape[0] == 1:
    channels = np.concatenate([channels, np.zeros_like(channels)])
  integrated, spread = descriptors.loudness(
      channels[None], np.array([channels.shape[-1]]), sample_rate=sample_rate)
  return float(integrated[0]), float(spread[0])


# --- Loudness. ------------------------------------------------------------------


def _loudness_signals(sample_rate, rng):
  """Thirteen signals of 5 s: noise, tones, mixtures, quiet and loud, a gap."""
  n = 5 * sample_rate
  t = np.arange(n) / sample_rate
  white = rng.standard_normal(n)
  brown = np.cumsum(rng.standard_normal(n))
  brown = brown / np.max(np.abs(brown))
  return [
      0.1 * white, 0.01 * white, 0.5 * brown,
      0.5 * np.sin(2 * np.pi * 100 * t), 0.3 * np.sin(2 * np.pi * 1000 * t),
      0.2 * np.sin(2 * np.pi * 6000 * t),
      0.2 * np.sin(2 * np.pi * 440 * t) + 0.05 * white,
      signals.drum_pattern(120, 5, sample_rate)[:n],
      signals.harmonic_tone(220, 5, sample_rate, harmonics=8)[:n] * 0.2,
      np.where(t < 2.5, 0.3, 0.003) * white,  # Loud, then 40 dB quieter.
      np.where(t < 2.5, 0.3, 0.05) * white,  # 15.6 dB quieter: gated out.
      np.where((t > 1) & (t < 4), 0.2, 0.0) * np.sin(2 * np.pi * 300 * t),
      0.9 * np.sign(np.sin(2 * np.pi * 80 * t)),  # A square wave, clipped.
  ]


# The quick tier keeps the model's usual rate and the standard's.
@pytest.mark.parametrize('sample_rate', [22050, pytest.param(44100, marks=(
    pytest.mark.slow, pytest.mark.mutation)), 48000])
def test_integrated_loudness_equals_pyloudnorm_within_a_tenth_of_a_lu(
    sample_rate):
  """Within 0.1 LU of pyloudnorm's default meter, and within 0.01 LU of its
  'DeMan' filter class, the same K-weighting as spotipop's (the default's
  cookbook filter rounds the shelf to 1500 Hz and 4 dB)."""
  pyloudnorm = pytest.importorskip('pyloudnorm')
  meters = {'default': pyloudnorm.Meter(sample_rate),
            'DeMan': pyloudnorm.Meter(sample_rate, filter_class='DeMan')}
  rng = np.random.default_rng(sample_rate)
  waves = [w[None] for w in _loudness_signals(sample_rate, rng)]
  waves.append(np.stack(_loudness_signals(sample_rate, rng)[:2]))  # Stereo.
  ours = np.array([_loudness(w, sample_rate)[0] for w in waves])
  for name, tolerance in (('default', 0.1), ('DeMan', 0.01)):
    theirs = np.array([meters[name].integrated_loudness(
        w.T.astype(np.float64)) for w in waves])
    assert np.max(np.abs(ours - theirs)) < tolerance, (name, ours - theirs)


def test_k_weighting_at_48khz_is_the_standards():
  """ITU-R BS.1770-4, tables 1 and 2."""
  (b1, a1), (b2, a2) = descriptors.k_weighting(48000)
  np.testing.assert_allclose(b1, [1.53512485958697, -2.69169618940638,
                                  1.19839281085285], atol=1e-8)
  np.testing.assert_allclose(a1, [1.0, -1.69065929318241, 0.73248077421585],
                             atol=1e-8)
  np.testing.assert_allclose(b2, [1.0, -2.0, 1.0])
  np.testing.assert_allclose(a2, [1.0, -1.99004745483398, 0.99007225036621],
                             atol=1e-8)


# Lengths: shorter than one block's kept outputs, one sample more than
# them, and several blocks ending mid-block.
@pytest.mark.parametrize('sample_rate,seconds', [(8000, 0.7), (22050, None),
                                                  (48000, 5.3)])
def test_k_weighting_equals_the_filters_run_sample_by_sample(sample_rate,
                                                             seconds):
  """The block-by-block filter against BS.1770's two biquads run as
  recurrences in float64 (scipy.signal.lfilter), from rest: noise with a
  step of DC and a click, whose responses run across block edges."""
  from scipy import signal  # pylint: disable=g-import-not-at-top
  tail, size = descriptors.k_weighting_blocks(sample_rate)
  step = size - tail
  n = step + 1 if seconds is None else int(seconds * sample_rate)
  rng = np.random.default_rng(sample_rate)
  waves = np.stack([0.1 * rng.standard_normal(n),
                    np.where(np.arange(n) > n // 3, 0.5, 0.0)])
  waves[1, min(step, n) - 5] += 1.0  # A click just before a block's edge.
  expected = waves
  for b, a in descriptors.k_weighting(sample_rate):
    expected = signal.lfilter(b, a, expected, axis=-1)
  ours = np.asarray(descriptors._k_weighted(  # pylint: disable=protected-access
      np.float32(waves)[None], sample_rate))[0]
  np.testing.assert_allclose(ours, expected, rtol=0,
                             atol=2e-6 * np.abs(expected).max())


def test_a_1khz_sine_at_minus_23_dbfs_reads_minus_23_lufs():
  """EBU Tech 3341, case 1: both channels of a stereo file."""
  for sample_rate in (44100, 48000):
    wave = signals.sine(1000, -23.0, 20, sample_rate)
    integrated, _ = _loudness(np.stack([wave, wave]), sample_rate)
    assert integrated == pytest.approx(-23.0, abs=0.1)


@pytest.mark.slow  # Seconds of compilation.
@pytest.mark.mutation  # The mutation run checks it too.
def test_loudness_range_of_a_10_lu_step_is_10_lu():
  """EBU Tech 3342, case 1: 20 s at -20 dBFS, then 20 s at -30 dBFS; with
  10 s at -50 dBFS after them, below the relative gate, still 10 LU."""
  sample_rate = 48000
  wave = np.concatenate([signals.sine(1000, -20, 20, sample_rate),
                         signals.sine(1000, -30, 20, sample_rate)])
  _, spread = _loudness(np.stack([wave, wave]), sample_rate)
  assert spread == pytest.approx(10.0, abs=1.0)
  quiet_end = np.concatenate([wave, signals.sine(1000, -50, 10, sample_rate)])
  _, spread = _loudness(np.stack([quiet_end, quiet_end]), sample_rate)
  assert spread == pytest.approx(10.0, abs=1.0)
  _, steady = _loudness(np.stack([wave[:20 * sample_rate]] * 2), sample_rate)
  assert steady == pytest.approx(0.0, abs=0.1)


def test_the_gates_leave_out_silence_and_quiet_blocks():
  """A tone with 10 s of silence after it reads as the tone alone; so does
  one with a passage 30 dB quieter than the relative gate lets in. (Three
  blocks straddle each step and pass the gates: they take about 0.07 LU;
  ungated, the silence would take 3 LU.)"""
  tone = signals.sine(1000, -20, 10, SR)
  alone, _ = _loudness(tone[None], SR)
  with_silence, _ = _loudness(np.concatenate([tone, np.zeros(10 * SR)])[None],
                              SR)
  assert with_silence == pytest.approx(alone, abs=0.1)
  quiet = signals.sine(1000, -50, 10, SR)
  with_quiet, _ = _loudness(np.concatenate([tone, quiet])[None], SR)
  assert with_quiet == pytest.approx(alone, abs=0.1)


def _gated_as_documented(energy, valid, relative_gate_lu):
  """BS.1770-4's gating of one clip's block energies, written out: the mean
  energy of the valid blocks above -70 LUFS that are also above the mean of
  those, less relative_gate_lu; in LUFS (-0.691 + 10 log10), -70 when none
  pass."""
  lufs = -0.691 + 10 * np.log10(np.maximum(energy, 1e-30))
  absolute = valid & (lufs > -70)
  if not absolute.any():
    return -70.0
  gate = -0.691 + 10 * np.log10(energy[absolute].mean()) - relative_gate_lu
  gated = absolute & (lufs > gate)
  return max(-0.691 + 10 * np.log10(energy[gated].mean()), -70.0)


@pytest.mark.parametrize('relative_gate_lu', [10.0, 20.0])
def test_gating_is_bs1770s_over_the_valid_blocks(relative_gate_lu):
  """300 valid blocks and 100 invalid ones louder than any: blocks spread
  over -90 to 0 LUFS (a few within any 1 LU of the relative gate); blocks of
  -76 to -56 LUFS, whose relative gate lies below the absolute one; blocks
  all under -70 LUFS. The gated loudness equals BS.1770's gating computed
  here, and -70 where no block passes."""
  rng = np.random.default_rng(11)
  lufs = np.stack([rng.uniform(-90, 0, 400), rng.uniform(-76, -56, 400),
                   rng.uniform(-90, -70.5, 400)])
  lufs[:, 300:] = 3.0
  energy = 10.0 ** ((lufs + 0.691) / 10)
  valid = np.arange(400)[None].repeat(3, 0) < 300
  loudness, _, _ = descriptors._gated_loudness(  # pylint: disable=protected-access
      np.float32(energy), valid, relative_gate_lu=relative_gate_lu)
  expected = [_gated_as_documented(e, v, relative_gate_lu)
              for e, v in zip(energy, valid)]
  assert expected[2] == -70.0 and min(expected[:2]) > -70.0
  np.testing.assert_allclose(loudness, expected, atol=1e-4)


def test_loudness_range_percentiles_are_numpys():
  """The 10th and 95th percentiles of the gated short-term loudness, and
  others, equal numpy's (linear interpolation) over the masked values; 0
  where none are."""
  rng = np.random.default_rng(12)
  values = rng.normal(-20, 5, (4, 30)).astype(np.float32)
  mask = np.zeros((4, 30), bool)
  mask[0] = True
  mask[1, ::3] = True
  mask[2, 7] = True
  for q in (0.0, 10.0, 50.0, 95.0, 100.0):
    found = np.asarray(descriptors._percentile(  # pylint: disable=protected-access
        values, mask, q))
    expected = [np.percentile(v[m], q) if m.any() else 0.0
                for v, m in zip(values, mask)]
    np.testing.assert_allclose(found, expected, rtol=1e-6, err_msg=str(q))


# --- Tempo and key, known answers. -------------------------------------------

TEMPI = (60, 72, 80, 90, 100, 110, 120, 128, 140, 150, 160, 174, 185, 200)


def _tempo_as_documented(envelope):
  """docs/descriptors.md's tempo and strength of one onset envelope, written
  out in numpy: the linear autocorrelation of the envelope less its mean,
  over its value at lag 0; each tempo from 40 to 240 BPM in quarter steps
  scored by the mean of it at 1 to 4 periods (linearly interpolated, only
  lags whose upper frame lies within half the clip); the fastest tempo
  within 90% of the best score, and that score clipped to [0, 1]; 240 BPM
  at strength 0 where no tempo scores above 0."""
  frame_rate = SR / 512
  env = envelope - envelope.mean()
  frames = len(env)
  acf = np.correlate(env, env, 'full')[frames - 1:]
  if acf[0] == 0:  # A constant envelope.
    return 240.0, 0.0
  acf = acf / acf[0]
  bpm = np.arange(40, 240.125, 0.25)
  scores = []
  for tempo in bpm:
    values = []
    for multiple in range(1, 5):
      lag = multiple * 60 * frame_rate / tempo
      low = int(np.floor(lag))
      if low + 1 < frames // 2:
        values.append(acf[low] + (acf[low + 1] - acf[low]) * (lag - low))
    scores.append(np.mean(values) if values else -np.inf)
  scores = np.array(scores)
  if scores.max() <= 0:
    return 240.0, 0.0
  fastest = np.flatnonzero(scores >= 0.9 * scores.max())[-1]
  return bpm[fastest], min(max(scores[fastest], 0.0), 1.0)


def _pulses(period, frames, rng, noise=0.3):
  pulses = np.zeros(frames)
  pulses[np.round(np.arange(3, frames, period)).astype(int)] = 1.0
  return pulses + noise * rng.random(frames)


def test_tempo_and_its_strength_are_the_documented_autocorrelation_score():
  """One batch, each envelope followed by padding frames of garbage that
  the mask leaves out: pulses at 126 BPM; noise; the same pulses 60 dB
  down; short clips (165 frames, half of it 82) whose tempo's fourth period
  ends one frame either side of half the clip; pulses at 50 BPM, whose
  period fits in half the clip once; pulses at 240 BPM, the top of the
  search; a constant; a cosine of 22 frames over 30, whose every tempo
  scores below 0. spotipop's tempo and strength equal the definition
  computed here."""
  rng = np.random.default_rng(3)
  frame_rate = SR / 512
  envelopes = [_pulses(20.5, 500, rng), rng.random(500)]
  envelopes.append(1e-3 * envelopes[0])
  envelopes += [_pulses(60 * frame_rate / bpm, 165, rng, noise=0.1)
                for bpm in (127.25, 128.0, 50.0)]
  envelopes += [_pulses(60 * frame_rate / 240, 300, rng), np.full(300, 0.5),
                np.cos(2 * np.pi * np.arange(30) / 22)]
  width = 560
  values = np.full((len(envelopes), width), 5.0)
  valid = np.zeros((len(envelopes), width), bool)
  for i, envelope in enumerate(envelopes):
    values[i, :len(envelope)] = envelope
    valid[i, :len(envelope)] = True
  tempo, strength = descriptors._tempo(  # pylint: disable=protected-access
      np.float32(values), valid, frame_rate)
  expected = [_tempo_as_documented(e) for e in envelopes]
  np.testing.assert_array_equal(tempo, [t for t, _ in expected])
  np.testing.assert_allclose(strength, [s for _, s in expected], atol=1e-5)
  # Not a vacuous fixture: the pulses read their tempo, far more strongly
  # than the noise; the constant and the cosine have none.
  assert expected[0][0] == pytest.approx(126, abs=1)
  assert expected[0][1] > 0.4 > 0.1 > expected[1][1]
  np.testing.assert_allclose([t for t, _ in expected[3:7]],
                             [127.25, 128, 50, 240], atol=3)
  assert expected[7] == expected[8] == (240.0, 0.0)


def _onset_rate_as_documented(envelope, valid, seconds, frame_rate):
  """docs/descriptors.md's onset rate of one envelope, written out: frames
  whose envelope, scaled to its maximum over the clip, is the largest within
  30 ms either side and exceeds by 0.07 the mean within 100 ms either side
  (each rounded to frames, at least one), the window's frames beyond the
  envelope's ends counted as 0 in the mean and left out of the largest; per
  second of the clip."""
  wait = max(1, round(0.03 * frame_rate))
  around = max(1, round(0.1 * frame_rate))
  env = np.where(valid, envelope, 0.0)
  env = env / env.max()
  onsets = 0
  for t in np.flatnonzero(valid):
    near = env[max(t - wait, 0):t + wait + 1]
    mean = env[max(t - around, 0):t + around + 1].sum() / (2 * around + 1)
    onsets += env[t] >= near.max() and env[t] >= mean + 0.07
  return onsets / seconds


@pytest.mark.parametrize('sample_rate', [4000, 22050, 44100])
def test_onset_rate_is_the_documented_peak_count(sample_rate):
  """At three frame rates (windows of 1 to 9 frames), one batch: a spiky
  envelope whose first and last frames are its largest; a flat noisy one
  at another scale, whose peaks sit near the threshold; a clip of 20
  frames, under a second; each alone and then followed by padding frames
  of garbage that the mask leaves out. The onset rate equals the definition
  computed here."""
  frame_rate = sample_rate / 512
  rng = np.random.default_rng(5)
  frames = 400
  # Maxima under 1, so that a padding frame read as 1 would rescale them.
  spiky = rng.random(frames) ** 4 * 0.5
  spiky[[0, -1]] = 0.5
  envelopes = np.stack([spiky, 0.9 * rng.random(frames),
                        rng.random(frames) ** 2 * 0.3])
  lengths = np.array([frames, frames, 20])
  seconds = lengths * 512 / sample_rate
  expected = [_onset_rate_as_documented(e[:n], np.ones(n, bool), t,
                                        frame_rate)
              for e, n, t in zip(envelopes, lengths, seconds)]
  assert min(expected) > 1.0
  for pad in (0, 50):
    values = np.concatenate([envelopes, np.full((3, pad), 9.0)], axis=1)
    values[2, 20:] = 9.0
    valid = np.arange(values.shape[1])[None] < lengths[:, None]
    rate = descriptors._onset_rate(  # pylint: disable=protected-access
        np.float32(values), valid, np.float32(seconds), frame_rate)
    np.testing.assert_allclose(rate, expected, rtol=1e-6)


@pytest.mark.slow  # Seconds of compilation.
@pytest.mark.mutation  # The mutation run checks it too.
def test_onset_rate_counts_the_hits_of_a_click_train():
  """Four clicks a second and one click a second."""
  waves = []
  for per_second in (4, 1):
    wave = np.zeros(10 * SR)
    wave[np.arange(SR // 8, 10 * SR, SR // per_second)] = 1.0
    waves.append(wave)
  rates = _describe(waves)['onset_rate_hz']
  np.testing.assert_allclose(rates, [4.0, 1.0], atol=0.15)


@pytest.mark.slow  # A sweep of 14 patterns: known answers, not the inner loop.
@pytest.mark.mutation  # Known answers: the mutation run checks them too.
def test_tempo_of_drum_patterns_is_within_2_percent_with_octave_errors_apart():
  waves = [signals.drum_pattern(bpm, 12, SR, seed=i)
           for i, bpm in enumerate(TEMPI)]
  found = _describe(waves)['tempo_bpm']
  ratio = found / np.array(TEMPI)
  right = np.abs(ratio - 1) <= 0.02
  octave = np.any([np.abs(ratio - r) <= 0.02 * r for r in (0.5, 2.0)], axis=0)
  assert right.mean() >= 0.9, dict(zip(TEMPI, found))
  assert not np.any(octave & right)
  assert right.sum() + octave.sum() == len(TEMPI), dict(zip(TEMPI, found))


@pytest.mark.slow  # Seconds of compilation.
@pytest.mark.mutation  # The mutation run checks it too.
def test_a_chord_of_every_pitch_class_weighted_as_a_key_profile_is_that_key():
  """Pure tones of the 12 pitch classes (C5 to B5, a semitone apart: 3 FFT
  bins), each as loud as Krumhansl & Kessler's rating of it in a key, read as
  that key with strength near 1."""
  keys = [(0, 1), (6, 1), (9, 0), (3, 0)]
  waves = []
  for key, major in keys:
    ratings = np.roll(KRUMHANSL_MAJOR if major else KRUMHANSL_MINOR, key)
    waves.append(sum(rating * signals.harmonic_tone(
        signals.midi_hz(72 + pc), 3, SR, harmonics=1)
                     for pc, rating in enumerate(ratings)) / 60)
  found = _describe(waves)
  assert [(found['key_pitch_class'][i], found['mode_major'][i])
          for i in range(len(keys))] == keys
  assert np.all(found['key_strength'] > 0.98), found['key_strength']


def _key_as_documented(magnitude, valid, sample_rate):
  """docs/descriptors.md's chroma, key, mode and key strength of one clip's
  STFT magnitudes [frames, 1025], written out: in each valid frame, every
  bin above its left neighbour and not below its right (log magnitudes,
  floored at 1e-10) is a peak, its frequency moved by the vertex of the
  parabola through the three (when it curves down); peaks from 55 Hz to
  5 kHz add their magnitude to the pitch class of their nearest semitone
  (A4 = 440 Hz). The key: of the Krumhansl-Kessler profiles in all 12
  rotations, major then minor, the first with the largest Pearson
  correlation with the chroma."""
  chroma = np.zeros(12)
  log = np.log(np.maximum(magnitude, 1e-10))
  for frame in np.flatnonzero(valid):
    for k in range(1, magnitude.shape[1] - 1):
      left, middle, right = log[frame, k - 1:k + 2]
      if not (middle > left and middle >= right):
        continue
      curvature = left - 2 * middle + right
      shift = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
      hz = (k + shift) * sample_rate / 2048
      if 55 <= hz <= 5000:
        chroma[int(np.round(12 * np.log2(hz / 440) + 69)) % 12] += (
            magnitude[frame, k])
  profiles = [np.roll(p, k) for p in (KRUMHANSL_MAJOR, KRUMHANSL_MINOR)
              for k in range(12)]
  correlation = [np.corrcoef(chroma, p)[0, 1] for p in profiles]
  best = int(np.argmax(correlation))
  return chroma, (best % 12, int(best < 12), correlation[best])


# 96 kHz: bins of 47 Hz, the lowest that can vote is bin 1. The other rates
# compile the chroma again: the quick tier keeps the usual one.
@pytest.mark.parametrize('sample_rate', [
    pytest.param(8000, marks=(pytest.mark.slow, pytest.mark.mutation)), 22050,
    pytest.param(96000, marks=(pytest.mark.slow, pytest.mark.mutation))])
def test_chroma_and_key_are_the_documented_peak_votes(sample_rate):
  """Random magnitudes (peaks everywhere, and plateaus of two equal bins,
  where the left one is the peak); another draw with the bins near D
  raised; one bin per pitch class (C7 to B7) at its C minor rating over a
  floor of small ones; the last two frames loud random padding that the
  mask leaves out. The chroma and key equal the definition computed here."""
  rng = np.random.default_rng(sample_rate)
  frames = 6
  magnitude = rng.random((3, frames + 2, 1025)) ** 3
  for k in range(100, 1000, 37):
    magnitude[:2, :, k - 1:k + 1] = 1.5
  hz = np.arange(1025) * sample_rate / 2048
  semitone = 12 * np.log2(np.maximum(hz, 1) / 440) + 69
  magnitude[1, :, np.abs(semitone % 12 - 2) < 0.3] *= 4.0
  magnitude[2] *= 1e-3
  for pitch_class in range(12):  # Its nearest bin in the octave from C7.
    k = np.argmin(np.abs(semitone - (96 + pitch_class)))
    magnitude[2, :, k] = KRUMHANSL_MINOR[pitch_class]
  magnitude[:, frames:] = 50.0 * rng.random((3, 2, 1025))
  valid = np.arange(frames + 2) < frames
  masks = np.stack([valid] * 3)
  chroma = np.asarray(descriptors._chroma(  # pylint: disable=protected-access
      np.float32(magnitude), masks, sample_rate))
  key, major, strength = map(np.asarray, descriptors._key(  # pylint: disable=protected-access
      np.float32(magnitude), masks, sample_rate))
  for i in range(3):
    expected_chroma, (expected_key, expected_major, expected_strength) = (
        _key_as_documented(magnitude[i], valid, sample_rate))
    np.testing.assert_allclose(chroma[i], expected_chroma, rtol=1e-4)
    assert (key[i], major[i]) == (expected_key, expected_major)
    assert strength[i] == pytest.approx(expected_strength, abs=1e-4)
  # Not vacuous: the raised D bins lead, and the third draw is C minor.
  assert np.argmax(chroma[1]) == 2
  assert (key[2], major[2]) == (0, 0)
  # A key is the chroma's shape, not its level: 80 dB down, the same.
  quiet = map(np.asarray, descriptors._key(  # pylint: disable=protected-access
      np.float32(magnitude * 1e-4), masks, sample_rate))
  for found, at_level in zip(quiet, (key, major, strength)):
    np.testing.assert_allclose(found, at_level, atol=1e-4)


@pytest.mark.slow  # A sweep of 24 keys; the chord test keeps one in quick.
@pytest.mark.mutation  # Cadences: the key's known answers.
def test_key_and_mode_of_cadences_in_all_24_keys():
  keys = [(key, major) for major in (1, 0) for key in range(12)]
  found = _describe([signals.cadence(key, major, SR) for key, major in keys])
  right = [(found['key_pitch_class'][i], found['mode_major'][i]) == key
           for i, key in enumerate(keys)]
  assert sum(right) >= 22, [(k, found['key_pitch_class'][i],
                             found['mode_major'][i])
                            for i, k in enumerate(keys) if not right[i]]
  assert np.all(found['key_strength'] > 0.5)


# Krumhansl & Kessler (1982), probe-tone ratings, C first.
KRUMHANSL_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66,
                   2.29, 2.88)
KRUMHANSL_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69,
                   3.34, 3.17)


# --- The spectral and MFCC descriptors against librosa. ----------------------

LIBROSA_COMPARED = tuple(n for n in descriptor_names.COMPUTED if n.startswith((
    'spectral_', 'zero_crossing', 'mfcc'))) + ('harmonic_percussive_ratio_db',)


def librosa_signals():
  """Three 10 s signals over a noise floor 60 dB down: a tone with gated
  noise whose last 2 s fall 80 dB more (where librosa's top-dB floor, one
  per clip, clips the quiet frames' bands), a drum pattern, a cadence."""
  rng = np.random.default_rng(7)
  n = 10 * SR
  t = np.arange(n) / SR
  floor = 1e-3 * rng.standard_normal((3, n))
  waves = np.stack([
      0.3 * np.sin(2 * np.pi * 440 * t) +
      0.1 * rng.standard_normal(n) * (np.sin(2 * np.pi * 2 * t) > 0),
      signals.drum_pattern(100, 10, SR),
      np.tile(signals.cadence(2, 1, SR), 3)[:n]]) + floor
  waves[0] *= np.where(t < 8, 1.0, 1e-4)
  return waves.astype(np.float32)


def librosa_values(waves):
  """What librosa 0.11.0 computes for LIBROSA_COMPARED on waves, with the
  descriptors' STFT (n_fft 2048, hop 512, Hann, centred, reflect padding)."""
  import librosa  # pylint: disable=g-import-not-at-top
  rows = []
  for wave in waves:
    s = np.abs(librosa.stft(wave, n_fft=2048, hop_length=512,
                            pad_mode='reflect'))
    mel = librosa.feature.melspectrogram(S=s ** 2, sr=SR, n_mels=128)
    per_frame = [
        librosa.feature.spectral_centroid(S=s, sr=SR)[0],
        librosa.feature.spectral_bandwidth(S=s, sr=SR)[0],
        librosa.feature.spectral_rolloff(S=s, sr=SR)[0],
        librosa.feature.spectral_flatness(S=s)[0],
        librosa.feature.spectral_contrast(S=s, sr=SR).mean(axis=0),
        librosa.feature.zero_crossing_rate(wave)[0]]
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=13)
    harmonic, percussive = librosa.decompose.hpss(mel, kernel_size=31)
    rows.append([v for x in per_frame for v in (x.mean(), x.std())] +
                list(mfcc.mean(1)) + list(mfcc.std(1)) +
                [10 * np.log10(harmonic.sum() / percussive.sum())])
  return np.array(rows)


@pytest.mark.slow  # Seconds of compilation.
@pytest.mark.mutation  # The mutation run checks it too.
def test_spectral_and_mfcc_descriptors_equal_librosas():
  """Within 1e-3 relative (the MFCCs relative to the largest of their 13
  means or deviations), and the HPSS ratio within 0.01 dB."""
  stored = np.load(FIXTURE)
  assert list(stored['names']) == list(LIBROSA_COMPARED)
  ours = _describe(librosa_signals())
  for j, name in enumerate(LIBROSA_COMPARED):
    theirs = stored['values'][:, j]
    if name.startswith('mfcc'):
      family = stored['values'][:, [i for i, n in enumerate(LIBROSA_COMPARED)
                                    if n.startswith('mfcc')
                                    and n.endswith(name[-4:])]]
      tolerance = 1e-3 * np.abs(family).max(axis=1)
    elif name.startswith('harmonic'):
      tolerance = np.full(len(theirs), 0.01)
    else:
      tolerance = 1e-3 * np.abs(theirs)
    np.testing.assert_array_less(np.abs(ours[name] - theirs), tolerance,
                                 err_msg=name)


@pytest.mark.slow  # Checks the stored fixture, not spotipop: librosa's cold start.
def test_the_stored_librosa_values_are_librosas():
  pytest.importorskip('librosa', reason="recomputing librosa's values needs "
                      "librosa (pip install -e '.[bench]')")
  stored = np.load(FIXTURE)
  np.testing.assert_allclose(librosa_values(librosa_signals()),
                             stored['values'], rtol=1e-5, atol=1e-6)


# --- Edge cases: finite, documented values. ----------------------------------


@pytest.mark.slow  # Seconds of compilation.
@pytest.mark.mutation  # The mutation run checks it too.
def test_silence_clicks_dc_clipping_and_stereo_give_finite_documented_values():
  n = 3 * SR
  rng = np.random.default_rng(0)
  click = np.zeros(n)
  click[n // 2] = 1.0
  noise = rng.standard_normal(n)
  waves = [np.zeros(n), click, np.full(n, 0.5),
           np.clip(3 * np.sin(2 * np.pi * 200 * np.arange(n) / SR), -1, 1),
           0.1 * noise]
  stereo = np.stack([np.stack([w, np.zeros(n)]) for w in waves[:4]] +
                    [np.stack([0.1 * noise, -0.1 * noise])])
  found = _describe(waves, stereo=stereo)
  table = np.stack([found[name] for name in descriptor_names.COMPUTED])
  assert np.all(np.isfinite(table))
  silence = {name: found[name][0] for name in descriptor_names.COMPUTED}
  # docs/descriptors.md's values for silence.
  assert silence['loudness_lufs'] == -70.0
  assert silence['sample_peak_dbfs'] == -120.0
  assert silence['crest_factor_db'] == 0.0
  assert silence['spectral_flatness_mean'] == pytest.approx(1.0)
  for name in ('spectral_centroid_hz', 'spectral_bandwidth_hz',
               'spectral_rolloff_hz'):
    assert silence[f'{name}_mean'] == silence[f'{name}_std'] == 0.0, name
  assert (silence['key_pitch_class'], silence['mode_major'],
          silence['key_strength']) == (0, 1, 0.0)
  assert silence['tempo_strength'] == 0.0
  assert silence['harmonic_percussive_ratio_db'] == 0.0
  # DC: K-weighting's high-pass leaves only the step where the clip starts.
  assert found['loudness_lufs'][2] < -30
  assert found['sample_peak_dbfs'][3] == pytest.approx(0.0, abs=1e-3)
  assert found['crest_factor_db'][3] < 3.0  # Clipped nearly square.
  # Stereo: two channels of noise read 3 LU above one.
  assert found['loudness_lufs'][4] == pytest.approx(
      _loudness((0.1 * noise)[None], SR)[0] + 3.01, abs=0.05)
  # Each clip's figures are its own: 40 dB off the loudest clips of its batch
  # (whose dB scale the top-dB floor, per clip, must not share) change none.
  # And a spectrum's shape is not its level: the noise 100 dB down (its
  # frames' magnitudes summing to about 0.03) has the same centroid,
  # bandwidth and roll-off.
  scale = np.array([1, 1, 0.01, 0.01, 1e-5])
  again = _describe([w * k for w, k in zip(waves, scale)],
                    stereo=stereo * scale[:, None, None])
  for name in descriptor_names.COMPUTED:
    np.testing.assert_allclose(again[name][:2], found[name][:2], rtol=1e-6,
                               atol=1e-6, err_msg=name)
  for name in ('spectral_centroid_hz', 'spectral_bandwidth_hz',
               'spectral_rolloff_hz'):
    for statistic in ('mean', 'std'):
      key = f'{name}_{statistic}'
      assert again[key][4] == pytest.approx(found[key][4], rel=1e-3), key


def test_a_sign_change_is_counted_by_the_frames_that_hold_both_its_samples():
  """librosa's framing: frame t holds the 2048 samples from 512 t - 1024, the
  signal edge-padded, and counts the sign changes between them. A step from
  -0.5 to 0.5 between samples 1022 and 1023 (the last two of frame 0) lies
  in frames 0 to 3 only, and the padding repeats -0.5 (no change at the
  start). Samples within 1e-10 of 0 are 0, which counts as positive:
  alternating +-5e-11 never changes."""
  n = 8192
  step = np.where(np.arange(n) < 1023, -0.5, 0.5)
  tiny = np.where(np.arange(n) % 2, 5e-11, -5e-11)
  frames = descriptors.frame_count(n)
  rate = np.asarray(descriptors._zero_crossing_rate(  # pylint: disable=protected-access
      np.stack([step, tiny]).astype(np.float32), frames))
  expected = np.zeros(frames)
  expected[:4] = 1 / 2048
  np.testing.assert_array_equal(rate[0], expected)
  np.testing.assert_array_equal(rate[1], np.zeros(frames))


@pytest.mark.parametrize('n', [8192, 8192 + 300])
def test_the_zero_crossing_rate_is_each_frames_count_of_sign_changes(n):
  """Noise whose length is and is not a whole number of hops: frame t's
  rate is the sign changes between padded samples 512 t .. 512 t + 2047
  (edge-padded by 1024), counted in numpy, over 2048: exact in float32."""
  wave = np.random.default_rng(n).standard_normal(n).astype(np.float32)
  wave[::97] = 0.0  # Zeros count as positive.
  frames = descriptors.frame_count(n)
  padded = np.pad(wave, 1024, mode='edge')
  negative = np.signbit(np.where(np.abs(padded) <= 1e-10, 0.0, padded))
  expected = [np.count_nonzero(np.diff(negative[512 * t:512 * t + 2048]))
              / 2048 for t in range(frames)]
  rate = descriptors._zero_crossing_rate(wave[None], frames)  # pylint: disable=protected-access
  np.testing.assert_array_equal(np.asarray(rate)[0],
                                np.asarray(expected, np.float32))


def test_a_frame_whose_magnitude_is_all_at_nyquist_rolls_off_there():
  freqs = descriptors.fft_frequencies(SR).astype(np.float32)
  magnitude = np.zeros((1, 2, freqs.size), np.float32)
  magnitude[0, 0, -1] = 1.0  # Only the top bin.
  magnitude[0, 1, -2:] = 1.0  # Half in each of the top two: 85% in the last.
  rolloff = descriptors._rolloff(magnitude, freqs)  # pylint: disable=protected-access
  np.testing.assert_array_equal(np.asarray(rolloff)[0], [SR / 2, SR / 2])


@pytest.mark.slow  # Seconds of compilation.
@pytest.mark.mutation  # The mutation run checks it too.
def test_harmonic_and_percussive_energy_of_a_line_a_column_and_a_spike():
  """A mel power spectrogram of 200 frames (the last 10 padding) and 128
  bands: a line of 1 in band 10 (every frame but 50) is harmonic, a column
  of 2 in frame 50 (every band but 10) percussive; a lone spike of 1000,
  which neither median filter keeps, counts in neither (librosa's soft
  masks, split_zeros=False), nor does a column of 2 in padding frame 195.
  Harmonic: 189 valid line bins; percussive: 127 column bins of 2."""
  power = np.zeros((1, 200, 128), np.float32)
  power[0, :, 10] = 1.0
  power[0, 50, :] = 2.0
  power[0, 50, 10] = 0.0
  power[0, 100, 100] = 1000.0
  power[0, 195, :] = 2.0
  power[0, 195, 10] = 0.0
  mask = np.arange(200)[None] < 190
  ratio = descriptors._harmonic_percussive_ratio(  # pylint: disable=protected-access
      power, mask)
  assert float(ratio[0]) == pytest.approx(10 * np.log10(189 / 254), abs=1e-5)


def test_frame_statistics_cover_the_valid_frames_only():
  """Mean and population spread over the frames within a clip: one valid
  frame is its own mean with no spread; padding never counts."""
  x = np.array([[4.0, 9.0, 9.0, 9.0], [1.0, 2.0, 6.0, 9.0]], np.float32)
  mask = np.array([[True, False, False, False], [True, True, True, False]])
  mean, spread = map(np.asarray, descriptors._masked_spread(x, mask))  # pylint: disable=protected-access
  np.testing.assert_allclose(mean, [4.0, 3.0])
  np.testing.assert_allclose(spread, [0.0, np.std([1.0, 2.0, 6.0])],
                             rtol=1e-6)


@pytest.mark.slow  # Seconds of compilation.
@pytest.mark.mutation  # The mutation run checks it too.
def test_the_definitions_edges_are_inclusive():
  """Roll-off: the first bin where the running sum reaches 85% (17 of 20).
  Chroma: a peak exactly at 55 Hz (22,528 Hz: bins of 11 Hz) or 5 kHz
  (20,480 Hz: bins of 10 Hz) votes, for A and D# (MIDI 111)."""
  magnitude = np.zeros((1, 1, 1025), np.float32)
  magnitude[..., 3], magnitude[..., 9] = 17.0, 3.0
  freqs = descriptors.fft_frequencies(22050).astype(np.float32)
  rolloff = descriptors._rolloff(magnitude, freqs)  # pylint: disable=protected-access
  assert float(rolloff[0, 0]) == freqs[3]
  for sample_rate, peak, pitch_class in ((22528, 5, 9), (20480, 500, 3)):
    magnitude = np.full((1, 1, 1025), 0.01, np.float32)
    magnitude[..., peak] = 1.0
    chroma = np.asarray(descriptors._chroma(  # pylint: disable=protected-access
        magnitude, np.ones((1, 1), bool), sample_rate))
    assert chroma[0, pitch_class] == 1.0, sample_rate


def test_spectral_contrast_keeps_six_bands_where_nyquist_allows():
  # 1000 Hz: the lowest rate spotipop accepts (config.SAMPLE_RATE_RANGE).
  assert [descriptors.contrast_band_count(rate)
          for rate in (1000, 8000, 12800, 16000, 22050, 48000)] == [
              2, 5, 5, 6, 6, 6]


def test_bin_k_of_the_stft_is_at_k_times_the_rate_over_its_size():
  for rate in (8000, 22050, 44100):
    np.testing.assert_allclose(descriptors.fft_frequencies(rate),
                               np.arange(1025) * rate / 2048, rtol=1e-12)


def test_the_loudness_filter_size_is_the_smallest_even_5_smooth_length():
  def smooth(n):
    for p in (2, 3, 5):
      while n % p == 0:
        n //= p
    return n == 1
  for length in range(1, 3000):
    size = descriptors.fft_size(length)
    assert size >= length and size % 2 == 0 and smooth(size), length
    assert not any(s % 2 == 0 and smooth(s) for s in range(length, size))
  assert descriptors.fft_size(30 * 22050 + 11025) == 675_000


@pytest.mark.slow  # Compiles the descriptors for two more clip lengths.
@pytest.mark.mutation  # The only clip with padding: the mutation run needs it.
def test_a_clip_shorter_than_its_window_is_described_by_its_audio_alone():
  """The shortest accepted clip, zero-padded to the window, reads as
  itself: padding changes no statistic."""
  # A 3 s clip in a 4 s window: lengths other tests compile for already.
  short = signals.cadence(0, 1, SR, chord_seconds=0.75).astype(np.float32)
  pad = SR
  mono = np.pad(short, (0, pad))
  channels = np.stack([mono, np.zeros_like(mono)])
  padded = np.asarray(descriptors.describe(
      mono[None], channels[None], np.array([short.size]), sample_rate=SR))[0]
  exact = np.asarray(descriptors.describe(
      short[None], np.stack([short, np.zeros_like(short)])[None],
      np.array([short.size]), sample_rate=SR))[0]
  assert np.all(np.isfinite(padded))
  for name in ('loudness_lufs', 'spectral_centroid_hz_mean', 'mfcc1_mean',
               'key_pitch_class', 'sample_peak_dbfs'):
    j = descriptor_names.COMPUTED.index(name)
    assert padded[j] == pytest.approx(exact[j], rel=0.02, abs=0.05), name
