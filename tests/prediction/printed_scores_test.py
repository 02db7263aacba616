"""predict's lines, written out as the user reads them."""

import numpy as np

from spotipop import errors
from spotipop.prediction import new_tracks
from spotipop.prediction import printed_scores

NAN = float('nan')


def _tracks(ids, where, rejected=()):
  n = len(ids)
  return new_tracks.Tracks(ids, where, [None] * n, [()] * n, ['pop'] * n,
                           rejected)


def test_a_csvs_lines_keep_its_order_with_unreadable_rows_among_them():
  # Line 10 after line 9, and a path with a colon of its own.
  tracks = _tracks(['a', 'b\nc', 'd'], ['my:t.csv:2', 'my:t.csv:4',
                                        'my:t.csv:10'],
                   rejected=((3, 'x', 'my:t.csv:3: energy: not a number'),
                             (9, None, 'audio_path: empty')))
  scores = new_tracks.Scores(np.array([0.12345, NAN, 0.9996]),
                             np.array([33.35, NAN, 71.04]),
                             {1: 'my:t.csv:4 (b): cannot decode'})
  result = printed_scores.printed(tracks, scores, 'my:t.csv')
  assert result.lines == [
      ('a\tP(popular)=0.123\tpredicted popularity=33.4', None),
      ('x\tnot scored', 'my:t.csv:3: energy: not a number'),
      # An id of two lines prints as one; a reason gets its place in front.
      ('b\\nc\tnot scored', 'my:t.csv:4 (b): cannot decode'),
      ('line9\tnot scored', 'my:t.csv:9: audio_path: empty'),
      ('d\tP(popular)=1.000\tpredicted popularity=71.0', None)]
  assert isinstance(result.failure, errors.SomeTracksFailed)
  assert result.failure.exit_status == 2
  assert str(result.failure) == (
      '3 of 5 track(s) not scored (lines 3, 4, 9: their audio or values '
      'cannot be used; the reasons are above)')


def test_files_are_named_by_path_in_the_order_given():
  tracks = _tracks(['z.mp3', 'a.ogg', 'live: 2.wav'],
                   ['z.mp3', 'a.ogg', 'live: 2.wav'])
  scores = new_tracks.Scores(np.array([NAN, 0.5, NAN]),
                             np.array([NAN, 50.0, NAN]),
                             {0: 'too short\nto use',
                              2: 'live: 2.wav: corrupt'})
  result = printed_scores.printed(tracks, scores)
  assert result.lines == [
      ('z.mp3\tnot scored', 'z.mp3: too short\\nto use'),
      ('a.ogg\tP(popular)=0.500\tpredicted popularity=50.0', None),
      ('live: 2.wav\tnot scored', 'live: 2.wav: corrupt')]
  assert str(result.failure) == (
      '2 of 3 track(s) not scored (z.mp3, live: 2.wav: their audio or values '
      'cannot be used; the reasons are above)')


def test_every_track_scored_prints_its_contributions_and_no_failure():
  tracks = _tracks(['track'], ['--features'])
  scores = new_tracks.Scores(np.array([0.25]), np.array([12.349]), {},
                             [[('energy', 0.41249), ('audio', -0.2)]])
  result = printed_scores.printed(tracks, scores)
  assert result.lines == [
      ('track\tP(popular)=0.250\tpredicted popularity=12.3\twhy: '
       'energy +0.412, audio -0.200', None)]
  assert result.failure is None
