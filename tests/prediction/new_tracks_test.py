"""Scoring new tracks: the tracks a user gives, and the scores a run gives them.

The scores are checked against the run's model applied to the features its
dataset build stored for the same tracks: predict transforms a raw track as
the build did.
"""

import csv
import dataclasses
import json
import logging
import math
import os

import jax
import numpy as np
import pytest

from spotipop import config as config_lib
from spotipop import errors
from spotipop.data import datasets
from spotipop.data import pipeline
from spotipop.prediction import new_tracks
from spotipop.run import workdir as workdir_lib

# The untrained tabular run's tests share a worker (conftest.untrained_run).
on_the_untrained_run = pytest.mark.xdist_group('untrained')


def test_features_are_read_in_the_models_column_order():
  assert new_tracks.parse_features(' b=2.5, a=-1e3 ,, c=0', ('a', 'b', 'c')) == (
      -1000.0, 2.5, 0.0)


@pytest.mark.parametrize('text, named', [
    ('a=1,b', "'b' is not name=value"),
    ('a=1,b=2,d=4', "unknown feature 'd'; the model uses ['a', 'b']"),
    ('a=1,b=x', "b='x' is not a number"),
    ('a=1=2,b=1', "a='1=2' is not a number"),
    ('a=1,b=nan', "b is 'nan' (NaN/Inf)"),
    ('a=1,b=-inf', "b is '-inf' (NaN/Inf)"),
    ('a=1', "missing ['b']"),
    ('', "missing ['a', 'b']"),
])
def test_a_bad_feature_is_named(text, named):
  with pytest.raises(ValueError) as raised:
    new_tracks.parse_features(text, ('a', 'b'))
  assert str(raised.value) == f'--features: {named}'


def test_a_folder_gives_its_audio_files_in_order_and_nothing_else(tmp_path):
  (tmp_path / 'inner').mkdir()
  for name in ('b.mp3', 'a.WAV', 'inner/c.flac', 'notes.txt', 'cover.jpg'):
    (tmp_path / name).write_bytes(b'')
  single = tmp_path / 'elsewhere.ogg'
  tracks = new_tracks.tracks_from_files([str(single), str(tmp_path)], '',
                                        'rock', ())
  expected = [str(single), str(tmp_path / 'a.WAV'), str(tmp_path / 'b.mp3'),
              str(tmp_path / 'inner' / 'c.flac')]
  assert tracks.ids == tracks.where == tracks.audio_paths == expected
  assert tracks.features == [()] * 4 and tracks.genres == ['rock'] * 4
  assert tracks.rejected == ()


def test_one_file_with_features_is_one_track_of_those_values(tmp_path):
  tracks = new_tracks.tracks_from_files([str(tmp_path / 'x.mp3')], 'b=2,a=1',
                                        'pop', ('a', 'b'))
  assert tracks.features == [(1.0, 2.0)] and tracks.genres == ['pop']


@pytest.mark.parametrize('files, features, message', [
    (2, 'a=1', '--features describes one track; 2 audio files were given '
     '(use --tracks for many)'),
    (1, '', "--features: the model also reads ['a']; give them for one "
     'track, or use --tracks'),
])
def test_files_and_features_that_do_not_fit_are_refused(tmp_path, files,
                                                        features, message):
  paths = [str(tmp_path / f'{i}.mp3') for i in range(files)]
  with pytest.raises(errors.SpotipopError) as raised:
    new_tracks.tracks_from_files(paths, features, 'pop', ('a',))
  assert str(raised.value) == message


def test_a_folder_without_audio_is_named(tmp_path):
  (tmp_path / 'notes.txt').write_text('')
  with pytest.raises(errors.SpotipopError) as raised:
    new_tracks.tracks_from_files([str(tmp_path)], '', 'pop', ())
  assert str(raised.value).startswith(f'{tmp_path}: no audio files (.wav, ')


def test_flags_give_one_track_named_for_them():
  tracks = new_tracks.track_from_flags('a=3', 'jazz', ('a',))
  assert tracks == new_tracks.Tracks(['track'], ['--features'], [None],
                                     [(3.0,)], ['jazz'])


@pytest.mark.parametrize('tracks_csv, paths, features, message', [
    ('t.csv', ['a.mp3'], '', 'give either --tracks, or audio files (--audio) '
     'and --features'),
    ('t.csv', [], 'a=1', 'give either --tracks, or audio files (--audio) and '
     '--features'),
    (None, [], '', 'give --tracks, audio files (--audio) or, for a model that '
     'reads no audio, --features'),
])
def test_a_request_naming_no_tracks_or_two_ways_is_refused(tracks_csv, paths,
                                                           features, message):
  with pytest.raises(errors.SpotipopError) as raised:
    new_tracks.check_request(tracks_csv, paths, features)
  assert str(raised.value) == message


@pytest.mark.parametrize('tracks_csv, paths, features', [
    ('t.csv', [], ''), (None, ['a.mp3'], ''), (None, [], 'a=1'),
    (None, ['a.mp3'], 'a=1')])
def test_a_request_naming_its_tracks_one_way_passes(tracks_csv, paths,
                                                    features):
  new_tracks.check_request(tracks_csv, paths, features)


def _config(towers, descriptors='none'):
  return config_lib.Config(
      model=config_lib.ModelConfig(towers=towers),
      data=config_lib.DataConfig(descriptors=descriptors))


@pytest.mark.parametrize('towers, descriptors', [
    ('two_tower', 'none'), ('audio_only', 'none'),
    ('tabular_only', 'audio')])
def test_a_model_that_decodes_audio_scores_files(tmp_path, towers,
                                                 descriptors):
  """Audio files, with --features for the one track where the model has
  feature columns; never the --features track of a model without audio."""
  config = _config(towers, descriptors)
  path = str(tmp_path / 'x.mp3')
  tracks = new_tracks.requested_tracks(config, ('a',), None, [path], 'a=2',
                                       'pop')
  assert tracks == new_tracks.Tracks([path], [path], [path], [(2.0,)],
                                     ['pop'])
  with pytest.raises(errors.SpotipopError) as raised:
    new_tracks.requested_tracks(config, ('a',), None, [], 'a=2', 'pop')
  assert str(raised.value) == (f"--audio: the {towers} model needs the "
                               "track's audio file")


def test_a_model_that_reads_no_audio_scores_its_features_alone(tmp_path):
  config = _config('tabular_only')
  assert new_tracks.requested_tracks(config, ('a',), None, [], 'a=2',
                                     'pop') == new_tracks.track_from_flags(
                                         'a=2', 'pop', ('a',))
  with pytest.raises(errors.SpotipopError) as raised:
    new_tracks.requested_tracks(config, ('a', 'b'), None,
                                [str(tmp_path / 'x.mp3')], '', 'pop')
  assert str(raised.value) == ("--features: the tabular_only model reads no "
                               "audio, only ['a', 'b']")
  with pytest.raises(ValueError, match="--features: missing"):
    new_tracks.requested_tracks(config, ('a', 'b'), None, [], 'a=2', 'pop')


@pytest.mark.parametrize('towers', ['two_tower', 'tabular_only'])
def test_a_csv_is_read_whatever_else_the_model_reads(tmp_path, towers):
  csv_path = tmp_path / 'tracks.csv'
  (tmp_path / 'x.wav').write_bytes(b'')  # Read at scoring, not here.
  csv_path.write_text('track_id,audio_path,danceability\nt1,x.wav,0.5\n')
  config = _config(towers)
  config = dataclasses.replace(config, data=dataclasses.replace(
      config.data, feature_columns=('danceability',), genre_column='',
      release_column='', log1p_columns=()))
  tracks = new_tracks.requested_tracks(config, ('danceability',),
                                       str(csv_path), [], '', 'pop')
  assert tracks.ids == ['t1'] and tracks.features == [(0.5,)]
  assert tracks.audio_paths == [str(tmp_path / 'x.wav') if
                                towers == 'two_tower' else '']


def _stored_scores(run, checkpoint='best'):
  """{track id: (probability, score)}: the run's model at checkpoint on the
  features (and clips, if it hears them) its build stored, every split."""
  config, _, model, state = workdir_lib.restore_run(str(run), checkpoint)
  builder = datasets.load(json.loads((run / 'dataset.json').read_text())
                          ['data_dir'])
  stored = {}
  for split in ('train', 'validation', 'test'):
    table = pipeline.read_split(builder.as_data_source(split),
                                builder.info.metadata,
                                with_audio=config.uses_audio)
    logit, score = model.apply({'params': state.params}, table.get('audio'),
                               table['features'], table['genre_id'])
    for i, track_id in enumerate(table['track_id']):
      stored[str(track_id)] = (float(jax.nn.sigmoid(logit[i])),
                               100.0 * float(score[i]))
  return stored


@on_the_untrained_run
@pytest.mark.parametrize('checkpoint', ['best', 'latest'])
def test_a_csvs_tracks_score_as_the_model_scores_their_stored_features(
    untrained_run, tmp_path, checkpoint, caplog):
  """A CSV of the run's own tracks without popularity or audio (a tabular
  model needs neither), a bad row among them, scored in chunks of 4 with a
  padded last one: each track gets what the checkpoint's model gives the
  features the build stored for it (the run's latest/ holds another model);
  the bad row is rejected by its line; a progress line after each chunk
  but for a single one."""
  predictor = new_tracks.Predictor(str(untrained_run), checkpoint)
  with open(predictor.config.data.manifest, newline='') as f:
    rows = [{k: v for k, v in row.items()
             if k not in ('popularity', 'audio_path')}
            for row in list(csv.DictReader(f))[:10]]
  rows[3] = {**rows[3], predictor.feature_columns[0]: 'loud'}
  path = tmp_path / 'tracks.csv'
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  tracks = new_tracks.tracks_from_csv(str(path), predictor.config)
  assert [line for line, _, _ in tracks.rejected] == [5]
  kept = [r['track_id'] for i, r in enumerate(rows) if i != 3]
  assert tracks.ids == kept
  assert tracks.where == [f'{path}:{line}' for line in (2, 3, 4, 6, 7, 8, 9,
                                                          10, 11)]
  with caplog.at_level(logging.INFO):
    scores = predictor(tracks.audio_paths, tracks.features, tracks.genres,
                       chunk=4)
    assert [m for m in caplog.messages if m.startswith('scored')] == [
        'scored 4/9 tracks', 'scored 8/9 tracks', 'scored 9/9 tracks']
    caplog.clear()  # One chunk: no progress to show.
    predictor(tracks.audio_paths, tracks.features, tracks.genres, chunk=9)
    assert not [m for m in caplog.messages if m.startswith('scored')]
  stored = _stored_scores(untrained_run, checkpoint)
  other = _stored_scores(untrained_run, {'best': 'latest',
                                         'latest': 'best'}[checkpoint])
  assert all(abs(stored[t][0] - other[t][0]) > 1e-4 for t in kept)
  np.testing.assert_allclose(scores.probability,
                             [stored[t][0] for t in kept], rtol=1e-5)
  np.testing.assert_allclose(scores.score, [stored[t][1] for t in kept],
                             rtol=1e-4, atol=1e-4)
  assert scores.failed == {} and scores.contributions is None
  assert len(set(np.round(scores.probability, 6))) > 1


@on_the_untrained_run
def test_a_track_given_by_flags_is_scored_and_explained(untrained_run):
  """One track by --features: the score of its stored features, and its 3
  largest contributions (by size) to the logit, named by input."""
  predictor = new_tracks.Predictor(str(untrained_run), explain=3)
  with open(predictor.config.data.manifest, newline='') as f:
    row = next(csv.DictReader(f))
  text = ','.join(f'{c}={row[c]}' for c in predictor.feature_columns)
  track = new_tracks.track_from_flags(text, row['genre'],
                                      predictor.feature_columns)
  scores = predictor(track.audio_paths, track.features, track.genres)
  probability, score = _stored_scores(untrained_run)[row['track_id']]
  assert scores.probability[0] == pytest.approx(probability, rel=1e-5)
  assert scores.score[0] == pytest.approx(score, rel=1e-4, abs=1e-4)
  # Five copies in chunks of 2: each its own, equal, contributions.
  copies = predictor(track.audio_paths * 5, track.features * 5,
                     track.genres * 5, chunk=2)
  assert len(copies.contributions) == 5
  for contributions in copies.contributions:
    assert [n for n, _ in contributions] == [n for n, _ in
                                             scores.contributions[0]]
    np.testing.assert_allclose([v for _, v in contributions],
                               [v for _, v in scores.contributions[0]],
                               rtol=1e-4, atol=1e-6)
  (top,) = scores.contributions
  assert len(top) == 3
  names = [name for name, _ in top]
  assert set(names) <= {*predictor.feature_columns, 'genre'}
  sizes = [abs(value) for _, value in top]
  assert sizes == sorted(sizes, reverse=True) and sizes[-1] > 0
  assert all(math.isfinite(value) for _, value in top)


@pytest.mark.slow
@pytest.mark.mutation
@pytest.mark.xdist_group('untrained_audio')
def test_audio_files_score_as_their_stored_clips_and_a_bad_one_fails_alone(
    untrained_audio_run, tmp_path):
  """The two-tower run's tracks by their audio files, a corrupt file third:
  each good file gets the model's score of the clip and features the build
  stored for it; the corrupt one scores NaN with its reason, and its chunk's
  other tracks are scored all the same."""
  predictor = new_tracks.Predictor(str(untrained_audio_run))
  with open(predictor.config.data.manifest, newline='') as f:
    rows = list(csv.DictReader(f))[:6]
  # Its audio elsewhere than the CSV's folder, as a user's files may be.
  catalogue = os.path.dirname(predictor.config.data.manifest)
  listed = tmp_path / 'to_score.csv'
  with open(listed, 'w', newline='') as f:
    writer = csv.DictWriter(f, list(rows[0]))
    writer.writeheader()
    writer.writerows({**r, 'audio_path': os.path.join(catalogue,
                                                      r['audio_path'])}
                     for r in rows)
  tracks = new_tracks.tracks_from_csv(str(listed), predictor.config)
  paths, features = tracks.audio_paths, tracks.features
  corrupt = tmp_path / 'corrupt.mp3'
  corrupt.write_bytes(b'\x00garbage' * 500)
  paths[2] = str(corrupt)
  scores = predictor(paths, features, tracks.genres, chunk=4)
  assert list(scores.failed) == [2]
  assert str(corrupt) in scores.failed[2]
  assert np.isnan(scores.probability[2]) and np.isnan(scores.score[2])
  stored = _stored_scores(untrained_audio_run)
  good = [i for i in range(6) if i != 2]
  np.testing.assert_allclose(scores.probability[good],
                             [stored[rows[i]['track_id']][0] for i in good],
                             rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(scores.score[good],
                             [stored[rows[i]['track_id']][1] for i in good],
                             rtol=1e-4, atol=1e-4)
