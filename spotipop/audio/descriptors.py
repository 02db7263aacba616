"""Descriptors of a track computed from its waveform, in jax.numpy.

What a popularity model can know about a track when all it has is the audio:
tempo, key, loudness, timbre. Each is named for what it measures, with its
unit; docs/descriptors.md gives every definition, range and reference, and
where a value differs from librosa's or pyloudnorm's and why.

`describe` computes all of them for a batch of clips in one compiled call,
reusing spotipop's STFT (spectrogram.stft): one STFT (n_fft 2048, hop 512)
serves the spectral, MFCC, chroma, onset and harmonic/percussive descriptors;
loudness filters each channel in the frequency domain. Clips may be shorter
than the window they are padded to: frames and blocks past a clip's length
are left out of its statistics. Silence, DC, clicks and clipping give finite
values (never NaN or inf); the floors are documented with each descriptor.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from spotipop.audio import spectrogram
from spotipop.audio.descriptor_names import N_MFCC

N_FFT = 2048
HOP = 512
N_MELS = 128
TOP_DB = 80.0  # librosa's power_to_db clip below each clip's maximum.
AMIN = 1e-10  # librosa's floor under powers before a log.
ROLLOFF = 0.85
CONTRAST_FMIN, CONTRAST_BANDS, CONTRAST_QUANTILE = 200.0, 6, 0.02
HPSS_KERNEL = 31  # Median filter length, frames and mel bands (librosa's).
TEMPO_RANGE = (40.0, 240.0)  # BPM searched.
TEMPO_STEP = 0.25  # BPM between candidates.
TEMPO_MULTIPLES = 4  # Periods of the onset autocorrelation a tempo must explain.
# Onset peak picking (librosa's onset_detect defaults): a peak is the largest
# within ONSET_MAX_SECONDS and exceeds the mean within ONSET_MEAN_SECONDS by
# ONSET_DELTA of the envelope's maximum.
ONSET_MAX_SECONDS, ONSET_MEAN_SECONDS, ONSET_DELTA = 0.03, 0.1, 0.07

LOUDNESS_FLOOR = -70.0  # LUFS: BS.1770's absolute gate; silence reads this.
PEAK_FLOOR = -120.0  # dBFS of a silent clip's peak.
# BS.1770-4's K-weighting: a high shelf then a high-pass, as analogue
# prototypes (centre Hz, gain dB, Q) fitted to the standard's 48 kHz
# coefficients (De Man 2018), so any sample rate gets the same response.
SHELF = (1681.974450955533, 3.999843853973347, 0.7071752369554196)
SHELF_BAND_EXPONENT = 0.4996667741545416
HIGHPASS = (38.13547087602444, 0.5003270373238773)
BLOCK_SECONDS, BLOCK_HOP_SECONDS = 0.4, 0.1  # Gating blocks, 75% overlap.
SHORT_TERM_SECONDS = 3.0  # EBU Tech 3342's short-term loudness window.
# Krumhansl & Kessler (1982) key profiles, C first.
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66,
                 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69,
                 3.34, 3.17)
CHROMA_RANGE = (55.0, 5000.0)  # Hz of the bins that vote for a pitch class.


def fft_frequencies(sample_rate):
  return np.linspace(0, sample_rate / 2, N_FFT // 2 + 1)


def frame_count(samples):
  return spectrogram.num_frames(samples, N_FFT, HOP)


# --- Statistics over the frames that lie within each clip. -----------------


def _masked_mean(x, mask):
  """Mean over the last axis of x where mask; x [..., T], mask [B, T]."""
  mask = mask.reshape(mask.shape[:1] + (1,) * (x.ndim - 2) + mask.shape[1:])
  count = jnp.maximum(jnp.sum(mask, axis=-1), 1)
  return jnp.sum(jnp.where(mask, x, 0.0), axis=-1) / count


def _masked_spread(x, mask):
  """(mean, population standard deviation) over the last axis where mask."""
  mean = _masked_mean(x, mask)
  variance = _masked_mean(jnp.square(x - mean[..., None]), mask)
  return mean, jnp.sqrt(variance)


def _db(power):
  """10 log10(power), power floored at AMIN (librosa's power_to_db, ref 1)."""
  return 10.0 * jnp.log10(jnp.maximum(power, AMIN))


def _top_db_floor(db, mask):
  """librosa's top_db: each clip's dB clipped at its maximum minus TOP_DB.

  db [B, T, ...] (frames second), mask [B, T].
  """
  shape = mask.shape + (1,) * (db.ndim - 2)
  peak = jnp.max(jnp.where(mask.reshape(shape), db, -jnp.inf),
                 axis=tuple(range(1, db.ndim)), keepdims=True)
  return jnp.maximum(db, peak - TOP_DB)


# --- Spectral shape, per frame. ---------------------------------------------


def _centroid_bandwidth(magnitude, freqs):
  """Spectral centroid and bandwidth (p = 2) in Hz; 0 for a silent frame."""
  # Sums over bins as dot products: XLA's CPU backend runs a product summed
  # over the last axis as a fused reduction many times slower than a dot
  # (benchmarks/README.md, descriptors).
  total = jnp.sum(magnitude, axis=-1)
  safe = jnp.where(total > 0, total, 1.0)
  centroid = jnp.where(total > 0, (magnitude @ freqs) / safe, 0.0)
  spread = jnp.einsum('...f,...f->...', magnitude,
                      jnp.square(freqs - centroid[..., None]))
  return centroid, jnp.sqrt(spread / safe)


def _rolloff(magnitude, freqs):
  """The lowest bin frequency below which ROLLOFF of the magnitude lies."""
  cumulative = _cumsum_last(magnitude)
  # The first bin reached is the count of bins not yet reached, as the sums
  # rise (a count is cheaper than an argmax); the last bin always reaches,
  # and in a silent frame the first does.
  short = jnp.sum(cumulative < ROLLOFF * cumulative[..., -1:], axis=-1)
  return jnp.asarray(freqs, magnitude.dtype)[short]


CUMSUM_BLOCK = 32


def _cumsum_last(x):
  """Cumulative sum over the last axis, in blocks of CUMSUM_BLOCK: within a
  block by a product with a triangular matrix, then each block's offset:
  on CPU, faster than jnp.cumsum's scan (benchmarks/README.md,
  descriptors)."""
  n = x.shape[-1]
  blocks = -(-n // CUMSUM_BLOCK)
  padded = jnp.pad(x, [(0, 0)] * (x.ndim - 1) +
                   [(0, blocks * CUMSUM_BLOCK - n)])
  within = padded.reshape(*x.shape[:-1], blocks, CUMSUM_BLOCK) @ np.triu(
      np.ones((CUMSUM_BLOCK, CUMSUM_BLOCK), x.dtype))
  offsets = jnp.cumsum(within[..., -1], axis=-1) - within[..., -1]
  return (within + offsets[..., None]).reshape(
      *x.shape[:-1], blocks * CUMSUM_BLOCK)[..., :n]


def _flatness(power):
  """Geometric over arithmetic mean of the power spectrum (1 for silence)."""
  floored = jnp.maximum(power, AMIN)
  return jnp.exp(jnp.mean(jnp.log(floored), axis=-1)) / jnp.mean(floored,
                                                                 axis=-1)


def contrast_band_count(sample_rate):
  """CONTRAST_BANDS, or fewer where Nyquist is below their lowest edge
  (librosa refuses such a rate): 5 at 8 kHz, whose Nyquist is 4 kHz."""
  octaves = int(np.floor(np.log2(sample_rate / 2 / CONTRAST_FMIN))) + 1
  return max(1, min(CONTRAST_BANDS, octaves - (
      CONTRAST_FMIN * 2.0 ** (octaves - 1) >= sample_rate / 2)))


@functools.lru_cache(maxsize=8)
def _contrast_bands(sample_rate):
  """(first bin, end bin, quantile count) of each octave band, as librosa
  cuts them: a band's bins are consecutive."""
  freqs = fft_frequencies(sample_rate)
  last = contrast_band_count(sample_rate)  # The top band's index.
  edges = np.zeros(last + 2)
  edges[1:] = CONTRAST_FMIN * 2.0 ** np.arange(last + 1)
  bands = []
  for k, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
    member = (freqs >= low) & (freqs <= high)
    index = np.flatnonzero(member)
    if k > 0:
      member[index[0] - 1] = True
    if k == last:
      member[index[-1] + 1:] = True
    count = max(int(np.rint(CONTRAST_QUANTILE * member.sum())), 1)
    rows = np.flatnonzero(member)
    if k < last:
      rows = rows[:-1]
    bands.append((int(rows[0]), int(rows[-1]) + 1, count))
  return tuple(bands)


def _contrast(magnitude, mask, sample_rate):
  """Octave-band spectral contrast in dB, averaged over the bands, per frame.

  As librosa.feature.spectral_contrast: per band, the mean of its top and
  bottom quantile of magnitudes, each through power_to_db (top_db included),
  then their difference.
  """
  peaks, valleys = [], []
  for start, end, count in _contrast_bands(sample_rate):
    band = magnitude[..., start:end]
    peaks.append(jnp.mean(jax.lax.top_k(band, count)[0], axis=-1))
    valleys.append(-jnp.mean(jax.lax.top_k(-band, count)[0], axis=-1))
  peak, valley = jnp.stack(peaks, -1), jnp.stack(valleys, -1)  # [B, T, bands]
  contrast = (_top_db_floor(_db(peak), mask) -
              _top_db_floor(_db(valley), mask))
  return jnp.mean(contrast, axis=-1)


def _zero_crossing_rate(mono, frames):
  """Per frame, sign changes over N_FFT samples, frames centred on t * HOP.

  As librosa.feature.zero_crossing_rate: the signal edge-padded, |x| <= 1e-10
  counted as 0, and 0 as positive.
  """
  half = N_FFT // 2
  padded = jnp.pad(mono, ((0, 0), (half, half)), mode='edge')
  negative = jnp.signbit(jnp.where(jnp.abs(padded) <= 1e-10, 0.0, padded))
  change = (negative[:, 1:] != negative[:, :-1]).astype(jnp.float32)
  # Frame t counts changes t * HOP .. t * HOP + N_FFT - 2 (between its
  # N_FFT samples): N_FFT / HOP whole hop blocks of changes, less the last
  # change of the last block. Counts of 0/1 are exact in float32.
  per_frame = N_FFT // HOP
  needed = (frames + per_frame - 1) * HOP
  change = jnp.pad(change, ((0, 0), (0, max(0, needed - change.shape[1]))))
  change = change[:, :needed]
  blocks = jnp.sum(change.reshape(change.shape[0], -1, HOP), axis=-1)
  window = sum(blocks[:, i:i + frames] for i in range(per_frame))
  last = change[:, np.arange(frames) * HOP + N_FFT - 1]
  return (window - last) / N_FFT


# --- Harmonic/percussive, timbre, rhythm, key. ------------------------------


@functools.lru_cache(maxsize=4)
def _median_network(n):
  """Compare-exchange pairs that leave the median of n values on wire n // 2.

  Batcher's odd-even merge sort over the next power of two (the extra wires
  hold +inf), pruned to the comparators the middle wire depends on: a
  median as a fixed sequence of elementwise min/max, which XLA runs as fast
  as a copy, where a sort of every window runs one small sort per window.
  """
  size = 1 << (n - 1).bit_length()
  pairs, p = [], 1
  while p < size:
    k = p
    while k >= 1:
      for j in range(k % p, size - k, 2 * k):
        for i in range(min(k, size - j - k)):
          if (i + j) // (2 * p) == (i + j + k) // (2 * p):
            pairs.append((i + j, i + j + k))
      k //= 2
    p *= 2
  needed, kept = {n // 2}, []
  for a, b in reversed(pairs):
    if a in needed or b in needed:
      kept.append((a, b))
      needed |= {a, b}
  return size, tuple(reversed(kept))


def _median_filter(x, axis):
  """Median over HPSS_KERNEL neighbours along axis, edges mirrored (scipy's
  'reflect', as librosa's HPSS uses)."""
  half = HPSS_KERNEL // 2
  pad = [(0, 0)] * x.ndim
  pad[axis] = (half, half)
  padded = jnp.pad(x, pad, mode='symmetric')
  size, pairs = _median_network(HPSS_KERNEL)
  wires = [jax.lax.slice_in_dim(padded, i, i + x.shape[axis], axis=axis)
           for i in range(HPSS_KERNEL)]
  wires += [jnp.full_like(x, jnp.inf)] * (size - HPSS_KERNEL)
  for a, b in pairs:
    wires[a], wires[b] = (jnp.minimum(wires[a], wires[b]),
                          jnp.maximum(wires[a], wires[b]))
  return wires[HPSS_KERNEL // 2]


def _harmonic_percussive_ratio(mel_power, mask):
  """10 log10(harmonic / percussive energy) of the mel power spectrogram.

  Median filtering across time keeps sustained (harmonic) energy, across
  frequency broadband (percussive) energy; each mel bin's energy is shared by
  librosa's soft masks (power 2). 0 dB for silence.
  """
  harmonic = _median_filter(mel_power, axis=1)
  percussive = _median_filter(mel_power, axis=2)
  h2, p2 = jnp.square(harmonic), jnp.square(percussive)
  both = h2 + p2
  share = jnp.where(both > 0, h2 / jnp.where(both > 0, both, 1.0), 0.0)
  valid = mask[..., None]
  h_energy = jnp.sum(jnp.where(valid, mel_power * share, 0.0), axis=(1, 2))
  p_energy = jnp.sum(jnp.where(valid & (both > 0), mel_power * (1 - share),
                               0.0), axis=(1, 2))
  tiny = 1e-12
  return 10.0 * jnp.log10((h_energy + tiny) / (p_energy + tiny))


@functools.lru_cache(maxsize=4)
def _dct_matrix(n_in, n_out):
  """Orthonormal DCT-II as a [n_in, n_out] matrix (scipy's norm='ortho')."""
  k = np.arange(n_out)[None, :]
  n = np.arange(n_in)[:, None]
  matrix = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
  matrix[:, 0] /= np.sqrt(2.0)
  return matrix.astype(np.float32)


def _flux(mel):
  """Spectral flux: the mean over mel bands of each band's rise from the
  frame before (librosa's onset_strength with lag 1), 0 at frame 0."""
  rise = jnp.maximum(mel[:, 1:] - mel[:, :-1], 0.0)
  return jnp.pad(jnp.mean(rise, axis=-1), ((0, 0), (1, 0)))


def _tempo(envelope, mask, frame_rate):
  """(tempo in BPM, its strength in [0, 1]) from the onset autocorrelation.

  Each candidate tempo's period P (in frames) is scored by the mean
  normalised autocorrelation at P, 2P, ..., TEMPO_MULTIPLES x P (those
  within half the clip), read between lags by linear interpolation. A
  pattern periodic at P is also periodic at 2P, 3P, ...: of the candidates
  within 90% of the best score, the fastest is taken, so a tempo is not
  halved.
  """
  frames = envelope.shape[-1]
  env = jnp.where(mask, envelope, 0.0)
  count = jnp.maximum(jnp.sum(mask, axis=-1), 1)
  env = jnp.where(mask, env - (jnp.sum(env, -1) / count)[:, None], 0.0)
  spectrum = jnp.fft.rfft(env, n=2 * frames, axis=-1)
  acf = jnp.fft.irfft(jnp.abs(spectrum) ** 2, axis=-1)[:, :frames]
  acf = acf / jnp.maximum(acf[:, :1], 1e-12)
  bpm = np.arange(TEMPO_RANGE[0], TEMPO_RANGE[1] + TEMPO_STEP / 2, TEMPO_STEP)
  period = 60.0 * frame_rate / bpm  # [C] frames
  lags = period[:, None] * np.arange(1, TEMPO_MULTIPLES + 1)[None, :]  # [C, K]
  low = np.floor(lags).astype(np.int32)
  frac = jnp.asarray(lags - low, jnp.float32)
  low_c = np.clip(low, 0, frames - 2)
  values = (acf[:, low_c] * (1 - frac) + acf[:, low_c + 1] * frac)  # [B,C,K]
  usable = low[None] + 1 < (count[:, None, None] // 2)
  score = jnp.sum(jnp.where(usable, values, 0.0), -1) / jnp.maximum(
      jnp.sum(usable, -1), 1)  # [B, C]
  score = jnp.where(jnp.any(usable, -1), score, -jnp.inf)
  best = jnp.max(score, axis=-1, keepdims=True)
  near = score >= 0.9 * best
  fastest = (score.shape[-1] - 1) - jnp.argmax(near[:, ::-1], axis=-1)
  strength = jnp.clip(jnp.take_along_axis(score, fastest[:, None], -1)[:, 0],
                      0.0, 1.0)
  strength = jnp.where(jnp.isfinite(strength), strength, 0.0)
  return jnp.asarray(bpm, jnp.float32)[fastest], strength


def _onset_rate(envelope, mask, seconds, frame_rate):
  """Onsets per second: peaks of the envelope (scaled to its maximum) that
  are the largest within ONSET_MAX_SECONDS and exceed the mean within
  ONSET_MEAN_SECONDS around them by ONSET_DELTA (librosa's onset_detect peak
  picking, without its minimum gap)."""
  env = jnp.where(mask, envelope, 0.0)
  env = env / jnp.maximum(jnp.max(env, -1, keepdims=True), 1e-12)
  frames = env.shape[-1]
  wait = max(1, int(round(ONSET_MAX_SECONDS * frame_rate)))
  around = max(1, int(round(ONSET_MEAN_SECONDS * frame_rate)))

  def shifted(x, offset, fill):
    padded = jnp.pad(x, ((0, 0), (around, around)), constant_values=fill)
    return padded[:, around + offset:around + offset + frames]
  local_max = functools.reduce(jnp.maximum, [
      shifted(env, o, -jnp.inf) for o in range(-wait, wait + 1)])
  window = range(-around, around + 1)
  local_mean = sum(shifted(env, o, 0.0) for o in window) / len(window)
  onset = (env >= local_max) & (env >= local_mean + ONSET_DELTA) & mask
  return jnp.sum(onset, -1) / jnp.maximum(seconds, 1e-6)


def _chroma(magnitude, mask, sample_rate):
  """[B, 12] magnitude per pitch class (C = 0, A4 = 440 Hz).

  Only spectral peaks vote, each with its magnitude, for the pitch class of its
  frequency (refined between bins by a parabola through the log magnitudes):
  the window's leakage into the bins beside a partial, which at 2048 points
  reaches the neighbouring semitones below 500 Hz, does not vote. Peaks
  outside CHROMA_RANGE are left out.
  """
  # Only bins whose refined frequency can lie in CHROMA_RANGE (the parabola
  # moves a peak by at most half a bin), and a neighbour either side: at
  # 22,050 Hz, 464 of the 1,025.
  bin_hz = sample_rate / N_FFT
  first = max(int(np.floor(CHROMA_RANGE[0] / bin_hz - 0.5)) - 1, 0)
  magnitude = magnitude[..., first:int(np.ceil(
      CHROMA_RANGE[1] / bin_hz + 0.5)) + 2]
  log_magnitude = jnp.log(jnp.maximum(magnitude, 1e-10))
  left, middle, right = (log_magnitude[..., :-2], log_magnitude[..., 1:-1],
                         log_magnitude[..., 2:])
  peak = (middle > left) & (middle >= right) & mask[..., None]
  curvature = left - 2 * middle + right
  shift = jnp.where(curvature < 0, 0.5 * (left - right) / jnp.where(
      curvature < 0, curvature, -1.0), 0.0)
  hz = (first + np.arange(1, magnitude.shape[-1] - 1) + shift) * bin_hz
  inside = peak & (hz >= CHROMA_RANGE[0]) & (hz <= CHROMA_RANGE[1])
  note = jnp.round(12 * jnp.log2(jnp.maximum(hz, 1.0) / 440.0) + 69)
  pitch_class = jnp.mod(note, 12).astype(jnp.int32)
  votes = jnp.where(inside, magnitude[..., 1:-1], 0.0)
  batch = jnp.broadcast_to(jnp.arange(votes.shape[0])[:, None, None],
                           votes.shape)
  return jnp.zeros((votes.shape[0], 12), votes.dtype).at[
      batch, pitch_class].add(votes)


def _key(magnitude, mask, sample_rate):
  """(key 0-11, mode 1 major / 0 minor, strength): the Krumhansl-Kessler
  profile, of the 24 rotations, that correlates best (Pearson) with the
  clip's chroma. Silence: key 0, major, strength 0."""
  chroma = _chroma(magnitude, mask, sample_rate)
  profiles = np.array([np.roll(p, k) for p in (MAJOR_PROFILE, MINOR_PROFILE)
                       for k in range(12)], np.float32)  # [24, 12]
  profiles = profiles - profiles.mean(1, keepdims=True)
  profiles /= np.linalg.norm(profiles, axis=1, keepdims=True)
  centred = chroma - jnp.mean(chroma, -1, keepdims=True)
  norm = jnp.linalg.norm(centred, axis=-1, keepdims=True)
  correlation = jnp.where(norm > 0, centred / jnp.where(norm > 0, norm, 1.0),
                          0.0) @ profiles.T  # [B, 24]
  best = jnp.argmax(correlation, -1)
  return ((best % 12).astype(jnp.float32), (best < 12).astype(jnp.float32),
          jnp.max(correlation, -1))


# --- Loudness: ITU-R BS.1770-4 and EBU Tech 3342. ---------------------------


@functools.lru_cache(maxsize=8)
def k_weighting(sample_rate):
  """BS.1770's K-weighting at sample_rate: ((b, a) of the high shelf, (b, a)
  of the high-pass).

  The analogue prototypes through the bilinear transform, as De Man (2018,
  AES e-Brief 397) derives them from the standard: at 48 kHz they give the
  standard's published coefficients, and at other rates the same response.
  """
  f0, gain_db, q = SHELF
  k = np.tan(np.pi * f0 / sample_rate)
  high = 10 ** (gain_db / 20)
  band = high ** SHELF_BAND_EXPONENT
  a0 = 1 + k / q + k * k
  shelf = (np.array([high + band * k / q + k * k, 2 * (k * k - high),
                     high - band * k / q + k * k]) / a0,
           np.array([a0, 2 * (k * k - 1), 1 - k / q + k * k]) / a0)
  f0, q = HIGHPASS
  k = np.tan(np.pi * f0 / sample_rate)
  a0 = 1 + k / q + k * k
  highpass = (np.array([1.0, -2.0, 1.0]),
              np.array([a0, 2 * (k * k - 1), 1 - k / q + k * k]) / a0)
  return shelf, highpass


@functools.lru_cache(maxsize=8)
def _k_weighting_response(sample_rate, n):
  """K-weighting's frequency response on an n-point rfft grid (complex64)."""
  response = np.ones(n // 2 + 1, np.complex128)
  z = np.exp(-2j * np.pi * np.arange(n // 2 + 1) / n)
  for b, a in k_weighting(sample_rate):
    response *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
  return response.astype(np.complex64)


# The K-weighting's impulse response has decayed below float32 resolution
# well within this tail (its slowest pole, the 38 Hz high-pass's, falls by
# e^-1 in about 8 ms): filtering blocks that each start this far before the
# samples they keep equals filtering sample by sample, with no recurrence to
# run.
FILTER_TAIL_SECONDS = 0.5


def fft_size(length):
  """The smallest even 2^a 3^b 5^c at least length: FFTs of such sizes run
  near a power of two's speed per point (at 22,050 Hz a filter block of four
  tails is 45,000 points, where the next power of two is 65,536)."""
  length = max(length, 2)
  best, twos = None, 2
  while twos < 2 * length:
    threes = twos
    while threes < 2 * length:
      size = threes
      while size < length:
        size *= 5
      best = size if best is None else min(best, size)
      threes *= 3
    twos *= 2
  return best


def k_weighting_blocks(sample_rate):
  """(tail, block size) in samples of the block-by-block K-weighting."""
  tail = int(np.ceil(FILTER_TAIL_SECONDS * sample_rate))
  return tail, fft_size(4 * tail)


def _k_weighted(channels, sample_rate):
  """channels [B, C, N] filtered by K-weighting, block by block (overlap-save).

  Each block is four filter tails long: its spectrum is multiplied by the
  filter's response, and the outputs after its first tail are kept, the
  tail's samples being the previous block's end (zeros before the clip). One
  FFT over the whole clip (675,000 points for 30 s at 22,050 Hz) computes
  the same to float32 rounding, more slowly on a CPU (benchmarks/README.md
  has the ratio).
  """
  samples = channels.shape[-1]
  tail, size = k_weighting_blocks(sample_rate)
  step = size - tail  # Outputs kept a block.
  blocks = -(-samples // step)
  lead = channels.shape[:-1]
  padded = jnp.pad(channels, [(0, 0)] * len(lead) +
                   [(tail, blocks * step - samples)])
  # Block i reads padded[i * step : i * step + size]: the tail before its
  # step's samples, then those samples.
  before = padded[..., :blocks * step].reshape(*lead, blocks, step)[..., :tail]
  kept = padded[..., tail:].reshape(*lead, blocks, step)
  spectrum = jnp.fft.rfft(jnp.concatenate([before, kept], -1), axis=-1)
  filtered = jnp.fft.irfft(spectrum * _k_weighting_response(sample_rate, size),
                           n=size, axis=-1)[..., tail:]
  return filtered.reshape(*lead, blocks * step)[..., :samples]


def _gated_loudness(energy, valid, relative_gate_lu):
  """-0.691 + 10 log10 of the mean block energy over the blocks above the
  absolute gate and relative_gate_lu below their own mean (BS.1770's gating).

  energy [B, J] (channel-summed mean squares), valid [B, J]. Returns the
  gated loudness (LOUDNESS_FLOOR when no block passes), the mask of gated
  blocks and every block's loudness.
  """
  loudness = -0.691 + 10.0 * jnp.log10(jnp.maximum(energy, 1e-30))
  absolute = valid & (loudness > LOUDNESS_FLOOR)
  mean_absolute = _masked_mean(energy, absolute)
  gate = -0.691 + 10.0 * jnp.log10(jnp.maximum(mean_absolute, 1e-30)) - (
      relative_gate_lu)
  gated = absolute & (loudness > gate[:, None])
  mean = _masked_mean(energy, gated)
  value = -0.691 + 10.0 * jnp.log10(jnp.maximum(mean, 1e-30))
  return (jnp.where(jnp.any(gated, -1), jnp.maximum(value, LOUDNESS_FLOOR),
                    LOUDNESS_FLOOR), gated, loudness)


def _percentile(values, mask, q):
  """numpy's linear-interpolated percentile q of values[mask], per row."""
  ordered = jnp.sort(jnp.where(mask, values, jnp.inf), axis=-1)
  count = jnp.sum(mask, -1)
  position = q / 100.0 * jnp.maximum(count - 1, 0)
  low = jnp.floor(position).astype(jnp.int32)
  high = jnp.minimum(low + 1, jnp.maximum(count - 1, 0))
  frac = position - low
  pick = lambda i: jnp.take_along_axis(ordered, i[:, None], -1)[:, 0]
  return jnp.where(count > 0, pick(low) * (1 - frac) + pick(high) * frac, 0.0)


@functools.partial(jax.jit, static_argnames=('sample_rate',))
def loudness(channels, lengths, sample_rate):
  """(integrated loudness LUFS, loudness range LU) of channels [B, C, N].

  Integrated: BS.1770-4, 400 ms blocks every 100 ms, gated at -70 LUFS and
  10 LU below. Range: EBU Tech 3342, 3 s short-term loudness every 100 ms,
  gated at -70 LUFS and 20 LU below, the 10th to 95th percentile (0 when no
  3 s window fits). Only blocks wholly within a clip's length count.
  """
  weighted = _k_weighted(channels, sample_rate)
  hop = int(round(BLOCK_HOP_SECONDS * sample_rate))
  segments = weighted.shape[-1] // hop
  power = jnp.sum(jnp.square(weighted[..., :segments * hop]).reshape(
      *weighted.shape[:-1], segments, hop), axis=-1).sum(axis=1)  # [B, S]
  cumulative = jnp.pad(jnp.cumsum(power, -1), ((0, 0), (1, 0)))

  def windows(count):  # Channel-summed mean square of count-segment windows.
    total = cumulative[:, count:] - cumulative[:, :-count]
    ends = (np.arange(total.shape[-1]) + count) * hop
    return total / (count * hop), ends[None, :] <= lengths[:, None]
  block = int(round(BLOCK_SECONDS / BLOCK_HOP_SECONDS))
  integrated, _, _ = _gated_loudness(*windows(block), relative_gate_lu=10.0)
  short = int(round(SHORT_TERM_SECONDS / BLOCK_HOP_SECONDS))
  if segments < short:
    return integrated, jnp.zeros_like(integrated)
  _, gated, short_term = _gated_loudness(*windows(short),
                                         relative_gate_lu=20.0)
  spread = (_percentile(short_term, gated, 95.0) -
            _percentile(short_term, gated, 10.0))
  return integrated, spread


# --- All of them. -------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=('sample_rate',))
def describe(mono, channels, lengths, sample_rate):
  """The descriptors of a batch of clips, [B, len(descriptor_names.COMPUTED)].

  mono [B, N]: each clip mixed to one channel. channels [B, 2, N]: its left
  and right channels for loudness and peaks (a mono file: itself and zeros,
  as BS.1770 weighs one channel). lengths [B]: samples of each clip that are
  audio; the rest is padding.
  """
  lengths = jnp.asarray(lengths, jnp.int32)
  frames = frame_count(mono.shape[-1])
  mask = (jnp.arange(frames)[None, :] * HOP) < lengths[:, None]  # [B, T]
  seconds = lengths.astype(jnp.float32) / sample_rate
  freqs = fft_frequencies(sample_rate).astype(np.float32)

  magnitude = jnp.abs(spectrogram.stft(mono, N_FFT, HOP))  # [B, T, F]
  power = jnp.square(magnitude)
  centroid, bandwidth = _centroid_bandwidth(magnitude, freqs)
  spectral = [centroid, bandwidth, _rolloff(magnitude, freqs),
              _flatness(power), _contrast(magnitude, mask, sample_rate),
              _zero_crossing_rate(mono, frames)]
  spreads = [v for x in spectral for v in _masked_spread(x, mask)]

  mel_power = power @ spectrogram.mel_filterbank(sample_rate, N_FFT, N_MELS)
  mel_db = _top_db_floor(_db(mel_power), mask)
  mfcc = jnp.moveaxis(mel_db @ _dct_matrix(N_MELS, N_MFCC), -1, 1)  # [B, K, T]
  mfcc_mean, mfcc_std = _masked_spread(mfcc, mask)

  # Onsets from the flux in dB, which hears quiet events after silence; the
  # beat from the flux of magnitudes, where loud events (kick, snare) weigh
  # more than quiet ones (hi-hats on the eighth notes would double it).
  envelope = _flux(mel_db)
  tempo, tempo_strength = _tempo(_flux(jnp.sqrt(mel_power)), mask,
                                 sample_rate / HOP)
  key, major, key_strength = _key(magnitude, mask, sample_rate)

  integrated, loudness_range = loudness(channels, lengths, sample_rate)
  inside = jnp.arange(channels.shape[-1])[None, None, :] < lengths[:, None,
                                                                   None]
  audio = jnp.where(inside, channels, 0.0)
  peak = jnp.max(jnp.abs(audio), axis=(1, 2))
  used = jnp.maximum(jnp.sum(jnp.any(audio != 0, axis=-1), -1), 1)
  mean_square = jnp.sum(jnp.square(audio), axis=(1, 2)) / (
      jnp.maximum(lengths, 1) * used)
  peak_db = jnp.where(peak > 0, 20 * jnp.log10(jnp.maximum(peak, 1e-30)),
                      PEAK_FLOOR)
  crest_db = jnp.where(peak > 0, peak_db - 10 * jnp.log10(
      jnp.maximum(mean_square, 1e-30)), 0.0)

  columns = [tempo, tempo_strength,
             _onset_rate(envelope, mask, seconds, sample_rate / HOP),
             key, major, key_strength, integrated, loudness_range, peak_db,
             crest_db, *spreads,
             _harmonic_percussive_ratio(mel_power, mask),
             *jnp.moveaxis(mfcc_mean, -1, 0), *jnp.moveaxis(mfcc_std, -1, 0)]
  return jnp.stack(columns, axis=-1)

