"""The synthetic demo catalogue: what its docstring promises each track holds."""

import csv
import inspect
import os

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO
from spotipop.data import demo_catalogue

RATE = 8000
SMALL = dict(num_tracks=24, sample_rate=RATE, seed=3, seconds=(3.0, 3.5))
EMBEDDED = os.path.join(REPO, 'spotipop', 'data', 'demo')


def _rows(manifest):
  with open(manifest, newline='') as f:
    return list(csv.DictReader(f))


@pytest.fixture(scope='module')
def small(tmp_path_factory):
  """(rows, {track_id: mono clip}) of a 24-track catalogue."""
  root = tmp_path_factory.mktemp('demo')
  manifest = demo_catalogue.write_catalogue(str(root), **SMALL)
  assert manifest == str(root / 'manifest.csv')
  rows = _rows(manifest)
  clips = {}
  for row in rows:
    wave, rate = sf.read(root / row['audio_path'], dtype='float32')
    assert rate == RATE and wave.ndim == 1
    clips[row['track_id']] = wave
  return rows, clips


def _band_power(wave, low, high):
  spectrum = np.abs(np.fft.rfft(wave)) ** 2
  freqs = np.fft.rfftfreq(wave.size, 1 / RATE)
  return spectrum[(freqs >= low) & (freqs <= high)].sum() / spectrum.sum()


def test_columns_ids_artists_genres_and_formats(small):
  rows, clips = small
  assert list(rows[0]) == list(demo_catalogue.MANIFEST_COLUMNS)
  assert [r['track_id'] for r in rows] == [f'demo{i:04d}' for i in range(24)]
  # Five consecutive tracks per artist; genres in turn.
  assert [r['artist'] for r in rows] == [f'artist{i // 5:03d}'
                                         for i in range(24)]
  assert [r['genre'] for r in rows] == [
      ('pop', 'rock', 'hip-hop', 'electronic', 'jazz', 'classical')[i % 6]
      for i in range(24)]
  # Every decoder's format, in an eight-file cycle.
  extensions = [r['audio_path'].rpartition('.')[2] for r in rows]
  assert extensions[:8] == ['wav', 'flac', 'ogg', 'mp3', 'ogg', 'mp3', 'ogg',
                            'mp3']
  assert extensions == extensions[:8] * 3
  assert all(r['audio_path'] == f"audio/{r['track_id']}.{e}"
             for r, e in zip(rows, extensions))
  for row in rows:  # The clip's length is drawn from `seconds`.
    wave = clips[row['track_id']]
    assert 3.0 * RATE <= wave.size <= 3.5 * RATE + 2000  # mp3 pads a frame.


def test_attributes_lie_in_their_documented_ranges(small):
  rows, _ = small
  for row in rows:
    for name in ('danceability', 'energy', 'speechiness', 'acousticness',
                 'instrumentalness', 'liveness', 'valence'):
      assert 0 <= float(row[name]) <= 1, (name, row[name])
    assert 0 <= int(row['key']) <= 11 and row['mode'] in ('0', '1')
    assert -18 <= float(row['loudness']) <= -3
    assert 70 <= float(row['tempo']) <= 170
    assert 120_000 <= int(row['duration_ms']) < 330_000
    assert row['time_signature'] in ('3', '4') and row['explicit'] in ('0', '1')
    assert 1990 <= int(row['release_year']) < 2025
    assert 0 <= int(row['popularity']) <= 100
    assert int(row['artist_followers']) >= 0 and int(row['playlist_count']) >= 0


def test_the_same_seed_writes_the_same_catalogue_and_another_differs(
    small, tmp_path):
  """Tracks draw from one generator in turn: the first 4 of a seed's
  catalogue are the whole of its 4-track one."""
  rows, clips = small
  four = {**SMALL, 'num_tracks': 4}
  demo_catalogue.write_catalogue(str(tmp_path / 'a'), **four)
  # Written again over the first: the tool regenerates a catalogue in place.
  again = _rows(demo_catalogue.write_catalogue(str(tmp_path / 'a'), **four))
  assert again == rows[:4]
  for row in again:
    wave, _ = sf.read(tmp_path / 'a' / row['audio_path'], dtype='float32')
    np.testing.assert_array_equal(wave, clips[row['track_id']])
  other = _rows(demo_catalogue.write_catalogue(
      str(tmp_path / 'b'), **{**four, 'seed': 4}))
  assert [r['popularity'] for r in other] != [r['popularity'] for r in again]


def test_the_hook_is_in_the_1_5_to_3_khz_band_of_hook_tracks_only(small):
  rows, clips = small
  hooks = demo_catalogue.hook_tracks(**SMALL)
  assert hooks and hooks < {r['track_id'] for r in rows}
  band = {t: _band_power(w, 1450, 3100) for t, w in clips.items()}
  with_hook = [band[t] for t in hooks]
  without = [band[t] for t in clips if t not in hooks]
  assert min(with_hook) > 3 * max(without), (with_hook, without)


def test_key_and_mode_set_the_chord(small):
  """The chord is a triad on A2 (110 Hz) raised by the key, its third major
  (4 semitones) or minor (3) by the mode: of the 24 triads, the track's
  holds the most energy."""
  rows, clips = small
  for row in rows:
    wave = clips[row['track_id']]
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    freqs = np.fft.rfftfreq(wave.size, 1 / RATE)

    def level(key, semitones):
      f = 110.0 * 2 ** ((key + semitones) / 12)
      return spectrum[np.abs(freqs - f) <= 1].max()

    def triad(key, mode):
      return level(key, 0) + level(key, 3 + mode) + level(key, 7.02)  # 3/2.

    levels = {(k, m): triad(k, m) for k in range(12) for m in (0, 1)}
    key, mode = int(row['key']), int(row['mode'])
    assert max(levels, key=levels.get) == (key, mode)
    # The mode's third sounds as loud as the root; the other third not at all.
    assert (level(key, 3 + mode) > 0.5 * level(key, 0)
            > 5 * level(key, 4 - mode))


def test_loudness_sets_the_level_and_tempo_the_beat(small):
  rows, clips = small
  rms_db = [20 * np.log10(np.sqrt(np.mean(clips[r['track_id']] ** 2)))
            for r in rows]
  loudness = [float(r['loudness']) for r in rows]
  # Ranked alike: a louder attribute is a louder clip.
  assert np.corrcoef(np.argsort(np.argsort(rms_db)),
                     np.argsort(np.argsort(loudness)))[0, 1] > 0.8
  # The lossless ones peak at the same multiple of their loudness's level,
  # where 16-bit PCM does not clip them at full scale.
  peaks = [np.abs(clips[r['track_id']]).max() for r in rows
           if r['audio_path'].endswith(('.wav', '.flac'))]
  levels = [10 ** (float(r['loudness']) / 20) for r in rows
            if r['audio_path'].endswith(('.wav', '.flac'))]
  ratios = [p / level for p, level in zip(peaks, levels) if p < 0.99]
  assert len(ratios) >= 3
  np.testing.assert_allclose(ratios, ratios[0], rtol=1e-3)
  for row in rows[:2]:  # The lossless ones: the kick (55 Hz) every beat.
    spectrum = np.fft.rfft(clips[row['track_id']])
    spectrum[np.fft.rfftfreq(clips[row['track_id']].size, 1 / RATE) > 90] = 0
    kick = np.abs(np.fft.irfft(spectrum))
    beat = 60 / float(row['tempo'])
    # Within +-40% of the beat, so neither half nor twice it is in range.
    lags = np.arange(int(0.6 * beat * RATE), int(1.4 * beat * RATE))
    correlation = [np.dot(kick[:-lag], kick[lag:]) / (kick.size - lag)
                   for lag in lags]
    assert lags[int(np.argmax(correlation))] / RATE == pytest.approx(
        beat, rel=0.02)


def test_popularity_follows_the_hook_and_danceability(tmp_path):
  """Popularity is a noisy function of the attributes: the hook is worth
  1.5 of its z (27 points), danceability 1.6 per unit."""
  tiny = dict(num_tracks=200, sample_rate=RATE, seed=0, seconds=(0.05, 0.05))
  rows = _rows(demo_catalogue.write_catalogue(str(tmp_path), **tiny))
  hooks = demo_catalogue.hook_tracks(**tiny)
  popularity = {r['track_id']: int(r['popularity']) for r in rows}
  gap = (np.mean([popularity[t] for t in hooks])
         - np.mean([p for t, p in popularity.items() if t not in hooks]))
  assert 15 < gap < 40
  assert np.corrcoef([float(r['danceability']) for r in rows],
                     list(popularity.values()))[0, 1] > 0.15


def test_the_hook_tracks_are_those_of_the_catalogue_of_the_same_settings():
  # The same defaults: those of the embedded catalogue, 200 tracks at 16 kHz.
  defaults = {name: p.default for name, p in inspect.signature(
      demo_catalogue.write_catalogue).parameters.items() if name != 'out_dir'}
  assert defaults == {'num_tracks': 200, 'sample_rate': 16_000, 'seed': 0,
                      'seconds': (3.5, 6.0)}
  assert {name: p.default for name, p in inspect.signature(
      demo_catalogue.hook_tracks).parameters.items()} == defaults


def test_the_embedded_catalogue_is_the_tools_output_at_its_defaults(tmp_path):
  """Its first tracks: each track draws from one generator in turn, so the
  first 8 of 200 are the whole of 8."""
  manifest = demo_catalogue.write_catalogue(str(tmp_path), num_tracks=8)
  ours = _rows(manifest)
  embedded = _rows(os.path.join(EMBEDDED, 'manifest.csv'))
  assert len(embedded) == 200 and list(embedded[0]) == list(ours[0])
  for mine, theirs in zip(ours, embedded[:8]):
    for column, value in mine.items():
      try:
        assert float(value) == pytest.approx(float(theirs[column]), rel=1e-9)
      except ValueError:
        assert value == theirs[column]
  for row in ours[:2]:  # wav and flac: lossless, the same samples.
    np.testing.assert_array_equal(
        sf.read(tmp_path / row['audio_path'])[0],
        sf.read(os.path.join(EMBEDDED, row['audio_path']))[0])


def _popularity_of(**changes):
  """The popularity of track 0's attributes with changes, on a fixed noise."""
  attributes = demo_catalogue._attributes(np.random.default_rng(0), 0)  # pylint: disable=protected-access
  attributes.update(changes)
  return demo_catalogue._popularity(np.random.default_rng(1), attributes)  # pylint: disable=protected-access


def test_popularity_stays_within_0_and_100():
  """Spotify's range, whatever the attributes: far beyond either end, the
  ends themselves."""
  assert _popularity_of(danceability=60.0) == 100
  assert _popularity_of(danceability=-60.0) == 0


@pytest.mark.parametrize('column', ['artist_followers', 'playlist_count'])
def test_a_count_of_0_weighs_as_1_and_every_count_above_counts(column):
  assert _popularity_of(**{column: 0}) == _popularity_of(**{column: 1})
  assert _popularity_of(**{column: 1}) != _popularity_of(**{column: 2})
