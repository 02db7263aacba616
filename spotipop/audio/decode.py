"""Audio decoding: any file libsndfile reads (wav, flac, ogg, mp3) to a fixed-length mono clip."""

import math
import os

import numpy as np
import soundfile as sf

from spotipop import errors


def _require_file(path):
  """libsndfile reports a missing file only as 'System error.'."""
  if not os.path.isfile(path):
    raise errors.AudioError(f'{path}: no such file')


def probe(path, min_seconds):
  """Checks a file's header cheaply; returns its duration in seconds."""
  _require_file(path)
  try:
    info = sf.info(path)
  except (sf.LibsndfileError, RuntimeError, OSError) as e:
    raise errors.AudioError(f'{path}: cannot decode audio ({e})') from e
  if info.samplerate <= 0 or info.frames <= 0:
    raise errors.AudioError(f'{path}: no audio frames')
  seconds = info.frames / info.samplerate
  if seconds < min_seconds:
    raise errors.AudioError(
        f'{path}: too short ({seconds:.2f} s < minimum {min_seconds:.2f} s)')
  return seconds


# A header can claim anything: decoding stops at MAX_SECONDS or MAX_SAMPLES
# (all channels), whichever comes first, so one corrupt file cannot exhaust
# memory. A 30 s preview or a whole song is far below both.
MAX_SECONDS = 900
MAX_SAMPLES = 2**26
SAMPLE_RATES = (1000, 384_000)  # Plausible native rates, Hz.
MAX_CHANNELS = 16
# What a folder of audio is taken to hold (libsndfile decodes them all).
AUDIO_EXTENSIONS = ('.wav', '.flac', '.ogg', '.oga', '.opus', '.mp3', '.aif',
                    '.aiff')


def _read(path):
  """(samples [frames, channels] float32, native rate) of a file, checked."""
  _require_file(path)
  try:
    with sf.SoundFile(path) as f:
      native_rate, channels = f.samplerate, f.channels
      if not SAMPLE_RATES[0] <= native_rate <= SAMPLE_RATES[1]:
        raise errors.AudioError(f'{path}: implausible sample rate {native_rate} Hz')
      if not 1 <= channels <= MAX_CHANNELS:
        raise errors.AudioError(f'{path}: implausible channel count {channels}')
      limit = min(MAX_SECONDS * native_rate, MAX_SAMPLES // channels)
      frames = min(f.frames, limit) if f.frames > 0 else limit
      wave = f.read(frames, dtype='float32', always_2d=True)
  except (sf.LibsndfileError, RuntimeError, OSError) as e:
    raise errors.AudioError(f'{path}: cannot decode audio ({e})') from e
  if not np.all(np.isfinite(wave)):
    raise errors.AudioError(f'{path}: decoded audio contains NaN or Inf samples')
  return wave, native_rate


def _resampled(wave, native_rate, sample_rate):
  """wave [..., samples] at sample_rate, by a polyphase filter."""
  if native_rate != sample_rate:
    # Imported here, where a clip needs resampling: scipy.signal is slow to
    # import (benchmarks/startup.py), and every tool start would pay it,
    # reading audio or not.
    from scipy import signal  # pylint: disable=g-import-not-at-top
    g = math.gcd(native_rate, sample_rate)
    wave = signal.resample_poly(wave, sample_rate // g, native_rate // g,
                                axis=-1)
  return wave.astype(np.float32)


def load(path, sample_rate):
  """Decodes to mono float32 at sample_rate, resampling with a polyphase filter."""
  wave, native_rate = _read(path)
  return _resampled(wave.mean(axis=1), native_rate, sample_rate)


def load_channels(path, sample_rate):
  """(mono as load gives it, channels [C, samples]) at sample_rate.

  A stereo file's channels are resampled apart, for what is measured per
  channel (loudness); a mono file's one channel is the mono wave, and a file
  of more than two channels is mixed to it.
  """
  wave, native_rate = _read(path)
  mono = _resampled(wave.mean(axis=1), native_rate, sample_rate)
  if wave.shape[1] != 2:
    return mono, mono[None]
  return mono, _resampled(wave.T, native_rate, sample_rate)


def fix_length(wave, num_samples):
  """Centre-crops long clips and zero-pads short ones to num_samples."""
  if wave.shape[0] >= num_samples:
    start = (wave.shape[0] - num_samples) // 2
    return wave[start:start + num_samples]
  return np.pad(wave, (0, num_samples - wave.shape[0]))


PCM_SCALE = 32767


def to_pcm16(wave):
  """float [-1, 1] -> int16, the storage and host-to-device format of clips."""
  return np.round(np.clip(wave, -1.0, 1.0) * PCM_SCALE).astype(np.int16)


def require_length(path, wave, sample_rate, min_seconds):
  """Refuses a decoded wave shorter than min_seconds, naming the file."""
  if wave.shape[-1] < min_seconds * sample_rate:
    raise errors.AudioError(f'{path}: decoded only {wave.shape[-1] / sample_rate:.2f} s '
                            f'of audio (< minimum {min_seconds:.2f} s); if its header '
                            'says longer, the file is truncated or corrupt')


def load_clip(path, sample_rate, clip_seconds, min_seconds):
  """The clip the model sees: decoded, resampled, length-checked, fixed length."""
  wave = load(path, sample_rate)
  require_length(path, wave, sample_rate, min_seconds)
  return fix_length(wave, int(round(clip_seconds * sample_rate)))
