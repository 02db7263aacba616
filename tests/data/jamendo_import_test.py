"""The Jamendo collector against a local stand-in for the API
(tests/jamendo_server.py): what it keeps, what it writes, how it resumes and
how it fails."""

import csv
import datetime
import hashlib
import os
import time

import pytest

import jamendo_server
from conftest import fails_in_one_line
from conftest import read_by_catalogue_flagfile
from conftest import run_module
from spotipop import errors
from spotipop.audio import decode
from spotipop.data import catalogue_flags
from spotipop.data import http_fetch
from spotipop.data import jamendo_api
from spotipop.data import jamendo_import

FAST = http_fetch.Retry(attempts=3, first_wait=0.01)


@pytest.fixture
def server():
  served = jamendo_server.Server(jamendo_server.catalogue(12,
                                                          not_downloadable={1}))
  yield served
  served.close()


def _collect(server, out, limit, **kwargs):
  return jamendo_import.collect(jamendo_server.CLIENT_ID, str(out), limit,
                                api_url=server.api_url, retry=FAST, **kwargs)


def _rows(path):
  with open(path, newline='', encoding='utf-8') as f:
    return list(csv.DictReader(f))


def test_downloadable_tracks_become_rows_with_counts_licences_and_hashes(
    server, tmp_path):
  collected = _collect(server, tmp_path, 6)
  assert (collected.tracks, collected.downloaded, collected.not_downloadable,
          collected.failed) == (6, 6, 1, [])
  assert collected.manifest == str(tmp_path / 'manifest.csv')
  rows = _rows(collected.manifest)
  # Track 1001 forbids download: skipped, and never fetched.
  assert [r['track_id'] for r in rows] == ['1000', '1002', '1003', '1004',
                                           '1005', '1006']
  assert '1001' not in server.downloads
  source = server.tracks[2]
  row = rows[1]
  assert (row['listens'], row['downloads'], row['favorites'],
          row['playlisted'], row['likes']) == ('900', '14', '1', '2', '0')
  assert (row['title'], row['artist'], row['artist_id'],
          row['release_date']) == ('Song 2', 'Artist 2', '12',
                                   source['releasedate'])
  assert (row['genre'], row['genres'], row['vocal_instrumental']) == (
      'jazz', 'jazz', 'vocal')
  assert rows[0]['genres'] == 'rock' and rows[2]['genres'] == 'rock indie'
  # by-sa, by-nc-nd: the URL's clauses are the terms.
  assert (row['licence_url'], row['non_commercial'],
          row['no_derivatives']) == (jamendo_server.LICENCES[2], 'False',
                                     'False')
  assert (rows[0]['non_commercial'], rows[3]['non_commercial'],
          rows[3]['no_derivatives']) == ('False', 'True', 'True')
  audio = tmp_path / 'audio' / row['audio_path']
  assert [r['audio_path'] for r in rows[:2]] == ['1/1000.mp3', '1/1002.mp3']
  assert audio.read_bytes() == server.audio
  assert row['audio_sha256'] == hashlib.sha256(server.audio).hexdigest()
  assert row['audio_bytes'] == str(len(server.audio))
  assert decode.load(str(audio), 8000).size > 0
  attribution = _rows(tmp_path / 'attribution.csv')
  assert attribution[1] == {'track_id': '1002', 'artist': 'Artist 2',
                            'title': 'Song 2',
                            'licence_url': jamendo_server.LICENCES[2],
                            'track_page': 'https://www.jamendo.com/track/1002'}
  _, query = server.requests[0]
  assert query['include'] == 'musicinfo stats licenses'
  assert query['order'] == 'id' and query['limit'] == '200'


def test_a_rerun_continues_without_fetching_audio_again(server, tmp_path,
                                                        monkeypatch):
  _collect(server, tmp_path, 3)
  # An earlier run killed mid-download leaves only a .part file.
  stray = tmp_path / 'audio' / '1' / '1005.mp3.part'
  stray.write_bytes(b'half')
  # A file that changed on disk since: its size and hash are taken again.
  changed = tmp_path / 'audio' / '1' / '1002.mp3'
  changed.write_bytes(b'other bytes')
  server.tracks[0]['stats']['rate_listened_total'] = 5
  hashed = []
  digest = http_fetch.file_digest
  monkeypatch.setattr(http_fetch, 'file_digest',
                      lambda path: (hashed.append(path), digest(path))[1])
  collected = _collect(server, tmp_path, 5)
  assert (collected.downloaded, collected.on_disk) == (2, 3)
  assert all(count == 1 for count in server.downloads.values())
  rows = _rows(collected.manifest)
  assert [r['track_id'] for r in rows] == ['1000', '1002', '1003', '1004',
                                           '1005']
  assert rows[0]['listens'] == '5'  # Counts are read again.
  assert not stray.exists()
  assert (tmp_path / 'audio/1/1005.mp3').read_bytes() == server.audio
  # Files the manifest records at their size are not read again.
  assert hashed == [str(changed)]
  for row in rows:
    content = (tmp_path / 'audio' / row['audio_path']).read_bytes()
    assert (row['audio_bytes'], row['audio_sha256']) == (
        str(len(content)), hashlib.sha256(content).hexdigest()), row


def test_files_on_disk_without_a_manifest_are_hashed_not_fetched(server,
                                                                 tmp_path):
  _collect(server, tmp_path, 3)
  (tmp_path / 'manifest.csv').unlink()
  collected = _collect(server, tmp_path, 3)
  assert (collected.downloaded, collected.on_disk) == (0, 3)
  assert {r['audio_sha256'] for r in _rows(collected.manifest)} == {
      hashlib.sha256(server.audio).hexdigest()}


def test_one_track_is_enough_and_its_date_is_todays_in_utc(server, tmp_path,
                                                           monkeypatch):
  """Counts change daily: `counted_on` is the UTC date they were read, in
  any time zone (UTC+14 and UTC-12 differ from UTC's date at every hour of
  the day, one or the other)."""
  for zone in ('Etc/GMT-14', 'Etc/GMT+12'):
    monkeypatch.setenv('TZ', zone)
    time.tzset()
    before = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    collected = _collect(server, tmp_path / zone.replace('/', '_'), 1)
    after = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    (row,) = _rows(collected.manifest)
    assert row['counted_on'] in (before, after), zone
  monkeypatch.delenv('TZ')
  time.tzset()


def test_audio_goes_a_thousand_ids_a_folder():
  assert jamendo_import.audio_path('999', 'mp3') == '0/999.mp3'
  assert jamendo_import.audio_path('1000', 'ogg') == '1/1000.ogg'
  assert jamendo_import.audio_path('123456', 'flac') == '123/123456.flac'


def test_tags_and_the_audio_format_reach_the_request(server, tmp_path):
  collected = _collect(server, tmp_path, 2, tags=('rock', 'indie'),
                       audio_format='ogg')
  _, query = server.requests[0]
  assert (query['tags'], query['audiodlformat']) == ('rock indie', 'ogg')
  assert [r['audio_path'] for r in _rows(collected.manifest)] == [
      '1/1000.ogg', '1/1002.ogg']


def test_a_track_listed_twice_is_kept_once_and_the_page_read_on(server,
                                                                tmp_path):
  # The listing moved between pages: a track seen again is passed over.
  server.tracks.insert(3, dict(server.tracks[2]))
  collected = _collect(server, tmp_path, 5)
  assert [r['track_id'] for r in _rows(collected.manifest)] == [
      '1000', '1002', '1003', '1004', '1005']


def test_a_truncated_download_is_retried_then_listed_never_kept(
    server, tmp_path):
  server.faults['truncate'] = {'1002', '1004'}
  collected = _collect(server, tmp_path, 3)
  assert server.downloads['1002'] == FAST.attempts
  assert [t for t, _ in collected.failed] == ['1002', '1004']
  assert 'truncated download' in collected.failed[0][1]
  assert [r['track_id'] for r in _rows(collected.manifest)] == [
      '1000', '1003', '1005']
  assert not list((tmp_path / 'audio').rglob('1002*'))
  listed = (tmp_path / 'failed_downloads.txt').read_text().splitlines()
  assert [line.split('\t')[0] for line in listed] == ['1002', '1004']
  assert listed[0].startswith('1002\ttrack 1002: truncated download')
  server.faults['truncate'] = set()
  again = _collect(server, tmp_path, 5)
  assert again.failed == [] and again.downloaded == 2
  assert (tmp_path / 'failed_downloads.txt').read_text() == ''


def test_a_busy_server_is_asked_again(server, tmp_path):
  server.faults['busy'] = 1
  server.faults['rate_limited'] = 1
  assert _collect(server, tmp_path, 2).tracks == 2
  tracks_requests = [q for p, q in server.requests if p == '/v3.0/tracks/']
  assert len(tracks_requests) == FAST.attempts == 3
  assert {q['offset'] for q in tracks_requests} == {'0'}


def _offsets(server):
  return [q['offset'] for p, q in server.requests if p == '/v3.0/tracks/']


def test_pages_follow_one_another(tmp_path):
  server = jamendo_server.Server(jamendo_server.catalogue(
      403, not_downloadable=set(range(400))))
  try:
    collected = _collect(server, tmp_path, 10)
  finally:
    server.close()
  assert collected.tracks == 3 and collected.not_downloadable == 400
  assert _offsets(server) == ['0', '200', '400']


def test_no_page_is_asked_for_past_the_limit(tmp_path):
  server = jamendo_server.Server(jamendo_server.catalogue(
      400, not_downloadable=set(range(2, 400))))
  try:
    assert _collect(server, tmp_path, 2).tracks == 2
  finally:
    server.close()
  assert _offsets(server) == ['0']


def test_licences_can_exclude_tracks(server, tmp_path):
  collected = _collect(server, tmp_path, 20, exclude=('non_commercial',))
  rows = _rows(collected.manifest)
  assert collected.excluded == 3 and len(rows) == 8  # 1001 is not downloadable.
  assert {r['non_commercial'] for r in rows} == {'False'}


@pytest.mark.parametrize('fault, value, kind, words', [
    ('unavailable', 1, errors.FetchError,
     ('offset 0', 'HTTP 503', 'tried 3 times')),
    ('missing_field', ('stats', 'rate_listened_total'), errors.FetchError,
     ('Jamendo tracks from offset 0, track 1',
      "no field 'stats.rate_listened_total'")),
    ('missing_field', ('audiodownload_allowed',), errors.FetchError,
     ("no field 'audiodownload_allowed'",)),
    ('not_json', 1, errors.FetchError, ('not JSON', 'maintenance')),
])
def test_a_failing_or_malformed_answer_is_named(server, tmp_path, fault,
                                                value, kind, words):
  server.faults[fault] = value
  with pytest.raises(kind) as raised:
    _collect(server, tmp_path, 3)
  for word in words:
    assert word in str(raised.value)


def test_an_unknown_client_id_names_the_flag(server, tmp_path):
  with pytest.raises(errors.FlagError, match='--client_id: Jamendo does not '
                     r'know it \(Invalid Client Id\)'):
    jamendo_import.collect('nobody', str(tmp_path), 3, api_url=server.api_url,
                           retry=FAST)


@pytest.mark.parametrize('arguments, flag', [
    ({'limit': 0}, '--limit'), ({'order': 'random'}, '--order'),
    ({'audio_format': 'wav'}, '--audio_format'),
    ({'exclude': ('share_alike',)}, '--exclude')])
def test_bad_settings_name_their_flag_before_any_request(
    server, tmp_path, arguments, flag):
  arguments = {'limit': 3, **arguments}
  limit = arguments.pop('limit')
  with pytest.raises(errors.FlagError, match=flag):
    _collect(server, tmp_path, limit, **arguments)
  assert server.requests == []


def test_the_flagfile_reads_the_manifest_to_percentile_labels(server,
                                                              tmp_path):
  collected = _collect(server, tmp_path, 11)
  read = read_by_catalogue_flagfile(catalogue_flags.flagfile(
      'jamendo', collected.manifest, str(tmp_path / 'audio'),
      jamendo_import.FLAG_COLUMNS), tmp_path)
  assert len(read.tracks) == 11
  assert max(t.popularity for t in read.tracks) > 100  # Raw listens.


def test_the_api_field_names_live_in_one_module():
  """jamendo_api is the only module that spells Jamendo's field names."""
  names = ('rate_listened_total', 'audiodownload_allowed', 'license_ccurl',
           'releasedate', 'audiodlformat')
  package = os.path.dirname(os.path.dirname(jamendo_api.__file__))
  spelled = set()
  for folder, _, files in os.walk(package):
    for name in files:
      if name.endswith('.py'):
        path = os.path.join(folder, name)
        with open(path) as f:
          text = f.read()
        if any(n in text for n in names):
          spelled.add(os.path.relpath(path, package))
  assert spelled == {os.path.join('data', 'jamendo_api.py')}


@pytest.mark.slow
def test_the_catalogues_tool_collects_resumes_and_fails_in_one_line(
    server, tmp_path):
  out = tmp_path / 'jamendo'
  common = ('jamendo', f'--api_url={server.api_url}', f'--out={out}',
            '--retries=1')
  server.faults['truncate'] = {'1003'}
  partly = run_module('spotipop.catalogues', *common,
                      f'--client_id={jamendo_server.CLIENT_ID}', '--limit=3',
                      check=False)
  assert partly.returncode == 2
  fails_in_one_line(partly, 'spotipop.catalogues', '1 tracks could not be '
                    'downloaded', 'failed_downloads.txt')
  assert partly.stdout.startswith(f'{out}/manifest.csv: 3 tracks (3 '
                                  'downloaded now, 0 already on disk); 1 not '
                                  'downloadable')
  server.faults['truncate'] = set()
  done = run_module('spotipop.catalogues', *common,
                    f'--client_id={jamendo_server.CLIENT_ID}', '--limit=4')
  assert '4 tracks (1 downloaded now, 3 already on disk)' in done.stdout
  assert f'--flagfile={out}/jamendo.flags' in done.stdout
  assert f'--audio_dir={out}/audio' in (out / 'jamendo.flags').read_text()
  refused = run_module('spotipop.catalogues', *common, '--client_id=nobody',
                       check=False)
  fails_in_one_line(refused, 'spotipop.catalogues', '--client_id')
  unset = run_module('spotipop.catalogues', 'jamendo', f'--out={out}',
                     check=False)
  fails_in_one_line(unset, 'spotipop.catalogues', '--client_id is required')


@pytest.mark.slow
def test_a_full_disk_names_the_file_and_the_rerun_finishes(server, tmp_path,
                                                           failwrite):
  out = tmp_path / 'jamendo'
  command = ('spotipop.catalogues', 'jamendo', f'--api_url={server.api_url}',
             f'--out={out}', f'--client_id={jamendo_server.CLIENT_ID}',
             '--limit=4')
  partial = out / 'audio' / '1' / '1003.mp3.part'
  full = run_module(*command, check=False, env={
      'LD_PRELOAD': failwrite, 'FAILWRITE_MODE': 'enospc',
      'FAILWRITE_MATCH': str(partial)})
  last = fails_in_one_line(full, 'spotipop.catalogues', str(partial),
                           'no space left on the device')
  assert 'run the same command' in last
  assert sorted(p.name for p in (out / 'audio' / '1').iterdir()) == [
      '1000.mp3', '1002.mp3']
  done = run_module(*command)
  assert '4 tracks (2 downloaded now, 2 already on disk)' in done.stdout


def _collected(failed):
  return jamendo_import.Collected(
      manifest='out/manifest.csv', tracks=9, downloaded=2, on_disk=6,
      not_downloadable=3, excluded=1, failed=failed)


def test_the_summary_line_says_what_was_written_fetched_and_left_out():
  assert jamendo_import.summary(_collected([]), 'out') == (
      'out/manifest.csv: 9 tracks (2 downloaded now, 6 already on disk); 3 '
      "not downloadable by their artists' choice, 1 left out by licence; "
      'attribution in out/attribution.csv')


def test_audio_that_could_not_be_fetched_fails_the_collection_with_status_2():
  jamendo_import.check_complete(_collected([]), 'out')
  with pytest.raises(errors.SomeTracksFailed) as raised:
    jamendo_import.check_complete(
        _collected([('1', 'reset'), ('2', 'timeout')]), 'out')
  assert raised.value.exit_status == 2
  assert str(raised.value) == (
      '2 tracks could not be downloaded (listed in out/failed_downloads.txt); '
      'the same command tries them again')
