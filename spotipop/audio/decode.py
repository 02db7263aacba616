"""Audio decoding: any file libsndfile reads (wav, flac, ogg, mp3) to a fixed-length mono clip."""

import dataclasses
import errno
import math
import os
import stat

import numpy as np
import soundfile as sf

from spotipop import config
from spotipop import errors


_NOT_FOUND = {errno.ELOOP: 'a symbolic link loop',
              errno.ENOTDIR: 'no such file (a folder on its path is a file)',
              errno.EACCES: 'not readable (permission denied)'}
_KINDS = ((stat.S_ISDIR, 'a folder'), (stat.S_ISFIFO, 'a named pipe (fifo)'),
          (stat.S_ISCHR, 'a character device'), (stat.S_ISBLK, 'a block device'),
          (stat.S_ISSOCK, 'a socket'))


def _require_file(path):
  """Refuses what is not a regular file, saying what it is: libsndfile says
  only 'System error.', and a pipe or a device would block or never end."""
  try:
    mode = os.stat(path).st_mode
  except OSError as e:
    if e.errno == errno.ENOENT:
      reason = ('a symbolic link to nothing' if os.path.islink(path)
                else 'no such file')
    else:
      reason = _NOT_FOUND.get(e.errno, e.strerror)
    raise errors.AudioError(f'{path}: {reason}') from None
  if not stat.S_ISREG(mode):
    kind = next((name for test, name in _KINDS if test(mode)),
                'not a regular file')
    raise errors.AudioError(f'{path}: {kind}, not an audio file')


def probe(path, min_seconds):
  """Checks a file's header cheaply; returns its duration in seconds."""
  _require_file(path)
  try:
    info = sf.info(path)
  except (sf.LibsndfileError, RuntimeError, OSError) as e:
    raise errors.AudioError(f'{path}: cannot decode audio ({e})') from e
  if problem := _implausible(info.samplerate, info.channels):
    raise errors.AudioError(f'{path}: {problem}')
  if info.frames <= 0:
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
SAMPLE_RATES = config.SAMPLE_RATE_RANGE  # Plausible native rates, Hz.
MAX_CHANNELS = 16
# What a folder of audio is taken to hold (libsndfile decodes them all).
AUDIO_EXTENSIONS = ('.wav', '.flac', '.ogg', '.oga', '.opus', '.mp3', '.aif',
                    '.aiff')


def _implausible(rate, channels):
  """What is implausible in a header's rate and channel count, or None."""
  if not SAMPLE_RATES[0] <= rate <= SAMPLE_RATES[1]:
    return f'implausible sample rate {rate} Hz'
  if not 1 <= channels <= MAX_CHANNELS:
    return f'implausible channel count {channels}'
  return None


def _open(path):
  """An open, checked SoundFile and the frames spotipop reads of it."""
  _require_file(path)
  try:
    f = sf.SoundFile(path)
  except (sf.LibsndfileError, RuntimeError, OSError) as e:
    raise errors.AudioError(f'{path}: cannot decode audio ({e})') from e
  if problem := _implausible(f.samplerate, f.channels):
    f.close()
    raise errors.AudioError(f'{path}: {problem}')
  limit = min(MAX_SECONDS * f.samplerate, MAX_SAMPLES // f.channels)
  return f, min(f.frames, limit) if f.frames > 0 else limit


def _checked(path, wave):
  if not np.all(np.isfinite(wave)):
    raise errors.AudioError(f'{path}: decoded audio contains NaN or Inf samples')
  return wave


def _read(path):
  """(samples [frames, channels] float32, native rate) of a file, checked."""
  f, frames = _open(path)
  try:
    with f:
      wave = f.read(frames, dtype='float32', always_2d=True)
  except (sf.LibsndfileError, RuntimeError, OSError) as e:
    raise errors.AudioError(f'{path}: cannot decode audio ({e})') from e
  return _checked(path, wave), f.samplerate


def _ratio(native_rate, sample_rate):
  g = math.gcd(native_rate, sample_rate)
  return sample_rate // g, native_rate // g


def _resampled(wave, native_rate, sample_rate):
  """wave [..., samples] at sample_rate, by a polyphase filter."""
  if native_rate != sample_rate:
    # Imported here, where a clip needs resampling: scipy.signal is slow to
    # import (benchmarks/startup.py), and every tool start would pay it,
    # reading audio or not.
    from scipy import signal  # pylint: disable=g-import-not-at-top
    up, down = _ratio(native_rate, sample_rate)
    wave = signal.resample_poly(wave, up, down, axis=-1)
  return wave.astype(np.float32)


def mix_to_mono(wave):
  """The mean of wave's channels [frames, C], equal to wave.mean(axis=1) to
  the bit and many times faster: numpy reduces a short inner axis one frame
  at a time, where this adds whole channels in the same order. The sum
  starts from +0.0, as the mean's does, so silence stays +0.0."""
  total = wave[:, 0] + np.float32(0.0)
  for channel in range(1, wave.shape[1]):
    total += wave[:, channel]
  return total / np.float32(wave.shape[1])


def _mono_and_channels(wave, native_rate, sample_rate, channels):
  """(mono, channels [C, samples] or None) at sample_rate of wave [frames,
  C]: a stereo file's channels (left, right); any other file's one
  channel is the mono wave (more than two channels are mixed to it)."""
  mono = _resampled(mix_to_mono(wave), native_rate, sample_rate)
  if not channels:
    return mono, None
  if wave.shape[1] != 2:
    return mono, mono[None]
  # Resampling is linear, so the channels are the resampled mid (the mono
  # clip) plus and minus the resampled side: one resampling fewer than each
  # channel's own, equal to them within float32 rounding.
  side = _resampled((wave[:, 0] - wave[:, 1]) * np.float32(0.5), native_rate,
                    sample_rate)
  return mono, np.stack([mono + side, mono - side])


def load(path, sample_rate):
  """Decodes to mono float32 at sample_rate, resampling with a polyphase filter."""
  wave, native_rate = _read(path)
  return _resampled(mix_to_mono(wave), native_rate, sample_rate)


@dataclasses.dataclass(frozen=True)
class Centre:
  """The centre of a decoded track at the model's rate: mono [n] and
  channels [C, n] (None unless asked for), the track's samples
  start..start + n of total."""
  mono: np.ndarray
  channels: np.ndarray
  start: int
  total: int

  def crop(self, wave, num_samples):
    """The track's centre num_samples of wave (mono or channels), as
    fix_length crops the whole track: zero-padded when it is shorter."""
    begin = max(0, (self.total - num_samples) // 2) - self.start
    piece = wave[..., begin:begin + num_samples]
    pad = num_samples - piece.shape[-1]
    return np.pad(piece, [(0, 0)] * (piece.ndim - 1) + [(0, pad)])


# Formats decoded whole: after a seek, libsndfile's MP3 decoder gave samples
# one float32 step away from a decode from the start
# (tests/audio/decode_test.py).
WHOLE_READ_FORMATS = ('MP3',)


def _resample_margin(up, down):
  """Input samples either side of a window that resample_poly's filter (10
  taps a phase at the upsampled rate) reaches."""
  return -(-10 * max(up, down) // up) + down


def load_centre(path, sample_rate, num_samples, channels=False):
  """The centre num_samples of a track at sample_rate (Centre, with its
  channels apart if asked), decoding only them and the resampling filter's
  reach.

  The samples equal the whole track's decoded, resampled and cropped
  (decode.fix_length): the read starts on a multiple of the resampler's
  phase period, so every kept output sample sums the same inputs. A track
  that is short, or whose header promises frames a seek cannot reach (a
  truncated file), is decoded whole; so is an MP3, whose decoder after a
  seek can differ from a decode from the start in the last bit.
  """
  f, frames = _open(path)
  native_rate = f.samplerate
  up, down = _ratio(native_rate, sample_rate)
  total = -(-frames * up // down)  # resample_poly's output length.
  first = (total - num_samples) // 2
  begin = max(0, first * down // up - _resample_margin(up, down))
  begin -= begin % down
  end = min(frames, -(-(first + num_samples) * down // up)
            + _resample_margin(up, down))
  wave = None
  with f:
    if first > 0 and f.seekable() and f.format not in WHOLE_READ_FORMATS:
      try:
        f.seek(begin)
        wave = f.read(end - begin, dtype='float32', always_2d=True)
      except (sf.LibsndfileError, RuntimeError, OSError):
        wave = None
      if wave is not None and wave.shape[0] < end - begin:
        wave = None  # Fewer frames than the header says: read it whole.
  if wave is None:
    wave, native_rate = _read(path)
    mono, apart = _mono_and_channels(wave, native_rate, sample_rate, channels)
    return Centre(mono, apart, 0, mono.shape[-1])
  mono, apart = _mono_and_channels(_checked(path, wave), native_rate,
                                   sample_rate, channels)
  return Centre(mono, apart, begin * up // down, total)


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


def require_total(path, centre, sample_rate, min_seconds):
  """Refuses a track shorter than min_seconds, naming the file."""
  if centre.total < min_seconds * sample_rate:
    raise errors.AudioError(f'{path}: decoded only {centre.total / sample_rate:.2f} s '
                            f'of audio (< minimum {min_seconds:.2f} s); if its header '
                            'says longer, the file is truncated or corrupt')


def load_clip(path, sample_rate, clip_seconds, min_seconds):
  """The clip the model sees: its centre, decoded, resampled, length-checked."""
  num_samples = int(round(clip_seconds * sample_rate))
  centre = load_centre(path, sample_rate, num_samples)
  require_total(path, centre, sample_rate, min_seconds)
  return centre.crop(centre.mono, num_samples)
