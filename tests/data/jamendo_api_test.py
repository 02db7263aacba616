"""Jamendo's request and answer, against the shapes its documentation gives."""

import urllib.parse

import pytest

from spotipop import errors
from spotipop.data import http_fetch
from spotipop.data import jamendo_api


def _query(url):
  split = urllib.parse.urlsplit(url)
  return split.path, dict(urllib.parse.parse_qsl(split.query))


def test_the_request_asks_for_json_counts_and_the_download_format():
  path, query = _query(jamendo_api.tracks_url(
      'http://h/v3.0/', 'ID', 400, 200, 'releasedate', ('rock', 'indie'),
      'ogg'))
  assert path == '/v3.0/tracks/'
  assert query == {'client_id': 'ID', 'format': 'json', 'offset': '400',
                   'limit': '200', 'order': 'releasedate',
                   'include': 'musicinfo stats licenses',
                   'audiodlformat': 'ogg', 'tags': 'rock indie'}
  _, untagged = _query(jamendo_api.tracks_url('http://h/v3.0', 'ID', 0, 5,
                                              'id', (), 'mp32'))
  assert 'tags' not in untagged


@pytest.mark.parametrize('document, kind, message', [
    ([], errors.FetchError, 'no headers.code'),
    ({'headers': {}}, errors.FetchError, 'no headers.code'),
    ({'headers': {'code': 5, 'error_message': 'Invalid Client Id'}},
     errors.FlagError, r'--client_id: Jamendo does not know it \(Invalid '
     r'Client Id\)'),
    ({'headers': {'code': '6', 'error_message': 'slow'}}, http_fetch.TryAgain,
     r'rate limit exceeded \(slow\)'),
    ({'headers': {'code': 3}}, errors.FetchError,
     r'^Jamendo refused the request: code 3: $'),
])
def test_a_failure_in_the_headers_is_named(document, kind, message):
  with pytest.raises(kind, match=message):
    jamendo_api.check_headers(document)


def test_success_passes_as_a_number_or_a_string():
  jamendo_api.check_headers({'headers': {'code': 0}})
  jamendo_api.check_headers({'headers': {'code': '0'}})


def _track(**changes):
  track = {'id': '7', 'name': 'N', 'artist_name': 'A', 'artist_id': '1',
           'album_id': '2', 'releasedate': '2012-01-02', 'duration': 200,
           'license_ccurl': 'u', 'shareurl': 's', 'audiodownload': 'd',
           'audiodownload_allowed': True,
           'stats': {'rate_listened_total': 5, 'rate_downloads_total': 1,
                     'favorited': 0, 'playlisted': 0, 'likes': 0},
           'musicinfo': {'vocalinstrumental': None,
                         'tags': {'genres': ['pop', 'rock']}}}
  track.update(changes)
  return track


def test_values_become_text_and_missing_ones_empty():
  (row,) = jamendo_api.tracks({'results': [_track()]}, 'page')
  assert (row['track_id'], row['duration'], row['listens']) == ('7', '200',
                                                                '5')
  assert row['vocal_instrumental'] == ''  # null in the answer.
  assert (row['genre'], row['genres']) == ('pop', 'pop rock')
  (bare,) = jamendo_api.tracks({'results': [_track(musicinfo={
      'vocalinstrumental': 'vocal', 'tags': {'genres': []}})]}, 'page')
  assert (bare['genre'], bare['genres']) == ('', '')


@pytest.mark.parametrize('allowed, expected', [
    (True, True), ('true', True), ('1', True), (1, True), (False, False),
    ('false', False), ('0', False), (0, False), (2, False), ('TRUE', False)])
def test_the_download_permission_reads_the_apis_spellings(allowed, expected):
  (row,) = jamendo_api.tracks(
      {'results': [_track(audiodownload_allowed=allowed)]}, 'page')
  assert row['download_allowed'] is expected


@pytest.mark.parametrize('changes, field', [
    ({'musicinfo': {'vocalinstrumental': '', 'tags': {}}},
     'musicinfo.tags.genres'),
    ({'audiodownload': None, 'shareurl': 's'}, None),
])
def test_a_missing_field_names_the_page_track_and_field(changes, field):
  track = _track(**changes)
  if field is None:  # A null download URL is a value, not a missing field.
    (row,) = jamendo_api.tracks({'results': [track]}, 'page')
    assert row['download_url'] == ''
    for name in ('audiodownload', 'audiodownload_allowed'):
      broken = _track()
      del broken[name]
      with pytest.raises(errors.FetchError,
                         match=f"^page 3, track 1: .*no field '{name}'"):
        jamendo_api.tracks({'results': [broken]}, 'page 3')
    return
  with pytest.raises(errors.FetchError,
                     match=f"^page 3, track 1: .*no field '{field}'"):
    jamendo_api.tracks({'results': [track]}, 'page 3')


def test_genres_that_are_not_a_list_and_ids_that_are_not_numbers_are_named():
  with pytest.raises(errors.FetchError, match="field 'musicinfo.tags.genres' "
                     'is not a list'):
    jamendo_api.tracks({'results': [_track(musicinfo={'tags': {
        'genres': 'pop'}, 'vocalinstrumental': ''})]}, 'page')
  with pytest.raises(errors.FetchError, match="field 'id' is '../7', not a "
                     'number'):
    jamendo_api.tracks({'results': [_track(id='../7')]}, 'page')
  with pytest.raises(errors.FetchError, match="no field 'results'"):
    jamendo_api.tracks({'results': None}, 'page')
