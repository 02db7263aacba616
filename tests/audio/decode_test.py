"""Real decoding of every supported container, resampling, cropping, bad files."""

import os

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from spotipop import errors
from spotipop.audio import decode

FORMATS = [('wav', 'PCM_16'), ('flac', 'PCM_16'), ('ogg', 'VORBIS'),
           ('mp3', 'MPEG_LAYER_III')]


def _tone(freq, seconds, rate, channels=1):
  t = np.arange(int(seconds * rate)) / rate
  wave = 0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32)
  return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def _peak_hz(wave, rate):
  spectrum = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
  return np.argmax(spectrum) * rate / wave.size


@pytest.mark.parametrize('extension,subtype', FORMATS)
def test_decodes_each_format_to_the_tone_it_holds(tmp_path, extension, subtype):
  path = str(tmp_path / f'tone.{extension}')
  sf.write(path, _tone(440.0, 2.0, 16_000), 16_000, subtype=subtype)
  wave = decode.load(path, 16_000)
  assert wave.dtype == np.float32
  assert abs(wave.size - 32_000) < 2_000  # Codecs may add priming samples.
  assert abs(_peak_hz(wave, 16_000) - 440.0) < 5.0


def test_resamples_and_downmixes_stereo(tmp_path):
  path = str(tmp_path / 'stereo.wav')
  sf.write(path, _tone(1000.0, 1.0, 44_100, channels=2), 44_100)
  wave = decode.load(path, 16_000)
  assert wave.ndim == 1 and wave.size == 16_000
  assert abs(_peak_hz(wave, 16_000) - 1000.0) < 3.0


@pytest.mark.parametrize('channels', [1, 2, 3, 6])
def test_the_down_mix_is_numpys_mean_to_the_bit(channels):
  wave = np.random.default_rng(channels).standard_normal(
      (1000, channels)).astype(np.float32)
  wave[::7] = -0.0  # Silence: the mean of negative zeros is +0.0.
  wave[3, 0] = 1e30
  wave[5] = 1e-40  # Subnormals.
  expected = wave.mean(axis=1)
  mixed = decode.mix_to_mono(wave)
  assert mixed.dtype == np.float32
  np.testing.assert_array_equal(mixed.view(np.int32), expected.view(np.int32))


def test_channels_are_kept_apart_beside_the_mono_load_gives(tmp_path):
  left = _tone(440, 1.0, 22050)
  right = 0.5 * _tone(1000, 1.0, 22050)
  path = tmp_path / 'stereo.wav'
  sf.write(path, np.stack([left, right], axis=1), 22050, subtype='FLOAT')
  assert decode.load_centre(str(path), 16000, 16000).channels is None
  centre = decode.load_centre(str(path), 16000, 16000, channels=True)
  np.testing.assert_array_equal(centre.mono, decode.load(str(path), 16000))
  assert centre.channels.shape == (2, 16000) and centre.total == 16000
  assert _peak_hz(centre.channels[0], 16000) == pytest.approx(440, abs=2)
  assert _peak_hz(centre.channels[1], 16000) == pytest.approx(1000, abs=2)
  np.testing.assert_allclose(centre.channels.mean(axis=0), centre.mono,
                             atol=1e-6)
  for channel, native in zip(centre.channels, (left, right)):
    np.testing.assert_allclose(
        channel, signal.resample_poly(native, 16000, 22050), atol=1e-6)
  sf.write(tmp_path / 'mono.wav', left, 22050, subtype='FLOAT')
  centre = decode.load_centre(str(tmp_path / 'mono.wav'), 22050, 22050,
                              channels=True)
  assert centre.channels.shape == (1, 22050)
  np.testing.assert_array_equal(centre.channels[0], centre.mono)


@pytest.mark.parametrize('extension,subtype', FORMATS)
@pytest.mark.parametrize('native', [44100, 16000])
def test_reading_only_the_centre_gives_the_whole_tracks_crop(
    tmp_path, extension, subtype, native):
  """Seeking to the centre (and the resampler's reach) decodes the very
  samples that decoding, resampling and cropping the whole track gives."""
  rng = np.random.default_rng(0)
  wave = np.stack([_tone(440, 20.0, native),
                   0.1 * rng.standard_normal(20 * native)], 1)
  path = tmp_path / f'long.{extension}'
  with sf.SoundFile(path, 'w', native, 2, subtype=subtype) as f:
    for block in range(0, len(wave), native):  # Vorbis: no one long write.
      f.write(wave[block:block + native])
  whole = decode.load(str(path), 16000)
  seeks = sf.info(path).format not in decode.WHOLE_READ_FORMATS
  for seconds in (3.0, 7.3):
    n = int(seconds * 16000)
    centre = decode.load_centre(str(path), 16000, n, channels=True)
    assert (centre.start > 0 and centre.mono.size < whole.size) == seeks
    np.testing.assert_array_equal(centre.crop(centre.mono, n),
                                  decode.fix_length(whole, n))
  np.testing.assert_array_equal(
      decode.load_clip(str(path), 16000, 3.0, 1.0),
      decode.fix_length(whole, 48000))


@pytest.mark.parametrize('native', [44100, 11025, 16000])
def test_the_centre_is_decoded_alone_from_a_long_track(tmp_path, monkeypatch,
                                                         native):
  """From a track 20x the clip, the frames read are the clip's, the
  resampler's reach either side and the alignment of the read to the
  resampler's phase period (under 1,500 frames at these rates), not the
  rest."""
  path = str(tmp_path / 'long.wav')
  sf.write(path, 0.1 * np.random.default_rng(1).standard_normal(40 * native),
           native)
  reads = []
  read = sf.SoundFile.read
  monkeypatch.setattr(sf.SoundFile, 'read', lambda f, frames=-1, **kw: (
      reads.append(frames), read(f, frames, **kw))[1])
  centre = decode.load_centre(path, 16000, 32000)
  assert len(reads) == 1 and 2 * native <= reads[0] <= 2 * native + 1500, reads
  monkeypatch.undo()
  np.testing.assert_array_equal(centre.crop(centre.mono, 32000),
                                decode.fix_length(decode.load(path, 16000),
                                                  32000))


@pytest.mark.parametrize('rate', [8000, 11025])
@pytest.mark.parametrize('extra', [1, 6, 30])
def test_a_track_barely_longer_than_the_clip_gives_its_whole_decodes_crop(
    tmp_path, rate, extra):
  """Upsampled to 16,000 Hz, the resampler's reach from the first kept
  sample runs past the file's start: the read must begin at frame 0."""
  path = str(tmp_path / 'barely.wav')
  native = np.random.default_rng(extra).uniform(-0.5, 0.5, rate + extra)
  sf.write(path, native, rate, subtype='FLOAT')
  whole = decode.load(path, 16000)
  centre = decode.load_centre(path, 16000, 16000 - 8)
  np.testing.assert_array_equal(centre.crop(centre.mono, 16000 - 8),
                                decode.fix_length(whole, 16000 - 8))


def test_the_centre_of_a_short_track_is_all_of_it_padded(tmp_path):
  sf.write(tmp_path / 'short.wav', _tone(440, 1.0, 8000), 8000)
  centre = decode.load_centre(str(tmp_path / 'short.wav'), 8000, 16000,
                              channels=True)
  assert centre.start == 0 and centre.total == 8000
  cropped = centre.crop(centre.channels, 16000)
  assert cropped.shape == (1, 16000) and not cropped[:, 8000:].any()
  np.testing.assert_array_equal(centre.crop(centre.mono, 16000),
                                decode.fix_length(centre.mono, 16000))


def test_fix_length_centre_crops_and_pads():
  long = np.arange(10, dtype=np.float32)
  np.testing.assert_array_equal(decode.fix_length(long, 4), [3, 4, 5, 6])
  short = np.ones(3, np.float32)
  np.testing.assert_array_equal(decode.fix_length(short, 5), [1, 1, 1, 0, 0])


def test_corrupt_file_error_names_the_file(tmp_path):
  path = tmp_path / 'corrupt.mp3'
  path.write_bytes(b'this is not audio' * 100)
  with pytest.raises(errors.AudioError, match='corrupt.mp3'):
    decode.probe(str(path), 0.5)
  with pytest.raises(errors.AudioError, match='corrupt.mp3'):
    decode.load(str(path), 16_000)


def test_too_short_audio_is_rejected_with_its_length(tmp_path):
  path = str(tmp_path / 'short.wav')
  sf.write(path, _tone(440.0, 0.3, 8_000), 8_000)
  with pytest.raises(errors.AudioError, match=r'short.wav: too short \(0.30 s'):
    decode.probe(path, 1.0)
  with pytest.raises(errors.AudioError,
                     match=r'short.wav: decoded only 0.30 s'):
    decode.load_clip(path, 8_000, clip_seconds=2.0, min_seconds=1.0)


def test_an_unreadable_path_is_named_with_the_systems_reason(tmp_path):
  path = str(tmp_path / ('x' * 300 + '.wav'))
  with pytest.raises(errors.AudioError, match='x.wav: File name too long$'):
    decode.probe(path, 0.0)


def test_a_header_without_frames_is_named_and_one_frame_is_audio(tmp_path):
  empty, one = str(tmp_path / 'empty.wav'), str(tmp_path / 'one.wav')
  sf.write(empty, np.zeros(0, np.float32), 8_000)
  sf.write(one, np.zeros(1, np.float32), 8_000)
  with pytest.raises(errors.AudioError, match=r'empty.wav: no audio frames$'):
    decode.probe(empty, 0.0)
  assert decode.probe(one, 0.0) == 1 / 8_000


@pytest.mark.parametrize('rate, channels, message', [
    (100, 1, 'implausible sample rate 100 Hz'),
    (999, 1, 'implausible sample rate 999 Hz'),
    (384_001, 1, 'implausible sample rate 384001 Hz'),
    (8000, 17, 'implausible channel count 17')])
def test_an_implausible_header_is_refused_before_decoding(tmp_path, rate,
                                                          channels, message):
  path = str(tmp_path / 'odd.wav')
  sf.write(path, np.zeros((400, channels), np.float32), rate)
  for read in (lambda: decode.probe(path, 0.0), lambda: decode.load(path, 8000),
               lambda: decode.load_centre(path, 8000, 100)):
    with pytest.raises(errors.AudioError, match=f'odd.wav: {message}$'):
      read()


@pytest.mark.parametrize('rate, channels', [(1000, 1), (384_000, 2),
                                            (8000, 16)])
def test_the_plausible_range_includes_its_edges(tmp_path, rate, channels):
  path = str(tmp_path / 'edge.wav')
  sf.write(path, np.full((rate // 10, channels), 0.25, np.float32), rate,
           subtype='FLOAT')
  assert decode.probe(path, 0.0) == 0.1
  np.testing.assert_array_equal(decode.load(path, rate), np.full(rate // 10,
                                                                 0.25))


@pytest.mark.parametrize('limit, value, channels', [
    ('MAX_SECONDS', 1, 1), ('MAX_SAMPLES', 3 * 6000 + 2, 3)])
def test_decoding_stops_at_the_length_limit(tmp_path, monkeypatch, limit,
                                            value, channels):
  """A header can claim anything: reading stops at MAX_SECONDS of audio, or
  at MAX_SAMPLES over all channels (here cut down to a 2 s file's scale)."""
  path = str(tmp_path / 'long.wav')
  sf.write(path, np.full((16000, channels), 0.5, np.float32), 8000,
           subtype='FLOAT')
  monkeypatch.setattr(decode, limit, value)
  expected = 8000 if limit == 'MAX_SECONDS' else 6000
  assert decode.load(path, 8000).shape == (expected,)
  assert decode.load_centre(path, 8000, 4000).total == expected


def test_samples_that_are_not_finite_are_named_with_the_file(tmp_path):
  """Whether the file is read whole or only its centre."""
  path = str(tmp_path / 'nan.wav')
  wave = np.zeros(80_000, np.float32)
  wave[40_000] = np.nan
  sf.write(path, wave, 8000, subtype='FLOAT')
  for read in (lambda: decode.load(path, 8000),
               lambda: decode.load_centre(path, 8000, 8000)):
    with pytest.raises(errors.AudioError,
                       match='nan.wav: decoded audio contains NaN or Inf'):
      read()


@pytest.mark.parametrize('fault', ['seek fails', 'read short'])
def test_a_failed_seek_or_a_short_read_is_read_whole(tmp_path, monkeypatch,
                                                     fault):
  """A seek that fails, or a read after it that gives fewer frames than the
  header promised (a file cut short): the track is decoded whole instead,
  and its centre is still the whole decode's."""
  path = str(tmp_path / 'track.wav')
  wave = np.random.default_rng(2).uniform(-0.5, 0.5, 20 * 8000).astype(
      np.float32)
  sf.write(path, wave, 8000, subtype='FLOAT')
  if fault == 'seek fails':
    original = sf.SoundFile.seek

    def seek(f, frames, whence=sf.SEEK_SET):
      if whence == sf.SEEK_SET and 0 < frames < len(wave):  # Into the audio.
        raise RuntimeError('seek failed')
      return original(f, frames, whence)
    monkeypatch.setattr(sf.SoundFile, 'seek', seek)
  else:
    read = sf.SoundFile.read
    monkeypatch.setattr(sf.SoundFile, 'read', lambda f, frames=-1, **kw: read(
        f, frames - 1 if f.tell() > 0 else frames, **kw))
  centre = decode.load_centre(path, 8000, 3 * 8000)
  assert (centre.start, centre.total) == (0, 20 * 8000)
  np.testing.assert_array_equal(centre.crop(centre.mono, 3 * 8000),
                                decode.fix_length(wave, 3 * 8000))


def test_a_flac_cut_short_is_named(tmp_path):
  path = tmp_path / 'cut.flac'
  sf.write(path, np.random.default_rng(2).uniform(-0.5, 0.5, 20 * 8000), 8000)
  path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
  with pytest.raises(errors.AudioError, match='cut.flac: cannot decode audio'):
    decode.load_centre(str(path), 8000, 3 * 8000)


def test_missing_file_error_names_the_file(tmp_path):
  with pytest.raises(errors.AudioError, match='nowhere.wav'):
    decode.probe(str(tmp_path / 'nowhere.wav'), 0.5)


def _entry(tmp_path, kind):
  """A path to an entry of each kind a manifest or folder can name."""
  path = tmp_path / kind
  if kind == 'folder':
    path.mkdir()
  elif kind == 'fifo':
    os.mkfifo(path)
  elif kind == 'device':
    return '/dev/null'
  elif kind == 'loop':
    os.symlink(tmp_path / 'loop2', path)
    os.symlink(path, tmp_path / 'loop2')
  elif kind == 'broken link':
    os.symlink(tmp_path / 'nowhere.wav', path)
  elif kind == 'under a file':
    (tmp_path / 'plain').write_text('x')
    return str(tmp_path / 'plain' / 'a.wav')
  return str(path)


@pytest.mark.parametrize('kind, reason', [
    ('folder', 'a folder, not an audio file'),
    ('fifo', 'a named pipe (fifo), not an audio file'),
    ('device', 'a character device, not an audio file'),
    ('loop', 'a symbolic link loop'),
    ('broken link', 'a symbolic link to nothing'),
    ('under a file', 'no such file (a folder on its path is a file)'),
    ('missing', 'no such file')])
def test_an_entry_that_is_not_a_file_is_named_for_what_it_is(
    tmp_path, kind, reason):
  path = _entry(tmp_path, kind)
  for read in (lambda: decode.probe(path, 1.0),
               lambda: decode.load(path, 8000),
               lambda: decode.load_centre(path, 8000, 800)):
    with pytest.raises(errors.AudioError) as raised:
      read()
    assert str(raised.value) == f'{path}: {reason}'


def test_pcm16_storage_clips_and_rounds():
  pcm = decode.to_pcm16(np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0], np.float32))
  assert pcm.dtype == np.int16
  assert pcm.tolist() == [-32767, -32767, 0, 16384, 32767, 32767]


def test_a_clip_exactly_at_the_minimum_length_is_used(tmp_path):
  """--min_clip_seconds is a floor: a clip of exactly that length passes,
  one sample less does not (probe by header, load_clip by decoded samples)."""
  exact, short = str(tmp_path / 'exact.wav'), str(tmp_path / 'short.wav')
  sf.write(exact, _tone(440.0, 1.0, 8_000), 8_000)
  sf.write(short, _tone(440.0, 1.0, 8_000)[:-1], 8_000)
  assert decode.probe(exact, 1.0) == 1.0
  clip = decode.load_clip(exact, 8_000, clip_seconds=2.0, min_seconds=1.0)
  # The whole second, then zeros. 16-bit WAV: libsndfile writes x * 32767
  # and reads n / 32768, so within two steps.
  np.testing.assert_allclose(clip[:8_000], _tone(440.0, 1.0, 8_000),
                             atol=2 / 32_768)
  np.testing.assert_array_equal(clip[8_000:], np.zeros(8_000))
  with pytest.raises(errors.AudioError, match='too short'):
    decode.probe(short, 1.0)
  with pytest.raises(errors.AudioError, match='decoded only 1.00 s'):
    decode.load_clip(short, 8_000, clip_seconds=2.0, min_seconds=1.0)
