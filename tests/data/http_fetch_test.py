"""Requests to a catalogue's server: which failures are retried, how long it
waits, and downloads that are whole or absent (against tests/jamendo_server)."""

import errno
import hashlib
import os
import resource
import signal
import threading

import pytest

import jamendo_server
from spotipop import errors
from spotipop.data import http_fetch


@pytest.fixture
def server():
  served = jamendo_server.Server(jamendo_server.catalogue(3))
  yield served
  served.close()


def _tracks_url(server, client_id=jamendo_server.CLIENT_ID):
  return f'{server.api_url}/tracks/?client_id={client_id}&offset=0&limit=2'


def test_waits_double_up_to_the_longest_then_the_request_is_named(server):
  server.faults['unavailable'] = 1
  waits = []
  with pytest.raises(errors.FetchError, match=r'^page one: HTTP 503 .*\(tried '
                     r'5 times\)$'):
    http_fetch.get_json(_tracks_url(server), 'page one',
                        http_fetch.Retry(attempts=5, first_wait=1.5,
                                         longest_wait=5), sleep=waits.append)
  assert waits == [1.5, 3.0, 5, 5]


def test_the_servers_retry_after_is_the_wait(server):
  server.faults['busy'] = 2  # Each 429 says Retry-After: 0.
  waits = []
  document = http_fetch.get_json(_tracks_url(server), 'page',
                                 http_fetch.Retry(first_wait=9),
                                 sleep=waits.append)
  assert waits == [0.0, 0.0]
  assert len(document['results']) == 2


def test_a_client_error_is_not_retried(server):
  waits = []
  with pytest.raises(errors.FetchError, match='^lost: HTTP 404'):
    http_fetch.download(f'{server.root}/nowhere', 'unused', 'lost',
                        sleep=waits.append)
  assert waits == [] and len(server.requests) == 1


def test_a_check_can_ask_for_another_try(server):
  seen = []

  def check(document):
    seen.append(document)
    if len(seen) == 1:
      raise http_fetch.TryAgain('overloaded', wait=0.25)

  waits = []
  http_fetch.get_json(_tracks_url(server), 'page', check=check,
                      sleep=waits.append)
  assert len(seen) == 2 and waits == [0.25]


def test_a_download_is_whole_and_hashed_or_absent(server, tmp_path):
  target = tmp_path / 'a' / 'b.mp3'
  got = http_fetch.download(f'{server.root}/download/1000', str(target), 'x')
  assert target.read_bytes() == server.audio
  assert got == http_fetch.Downloaded(
      len(server.audio), hashlib.sha256(server.audio).hexdigest())
  assert http_fetch.file_digest(str(target)) == got
  server.faults['truncate'] = {'1001'}
  waits = []
  cut = tmp_path / 'cut.mp3'
  with pytest.raises(errors.FetchError, match=r'truncated download: \d+ of '
                     f'{len(server.audio)} bytes'):
    http_fetch.download(f'{server.root}/download/1001', str(cut), 'cut',
                        http_fetch.Retry(attempts=2, first_wait=0),
                        sleep=waits.append)
  assert sorted(p.name for p in tmp_path.iterdir()) == ['a']
  assert server.downloads['1001'] == 2


def test_no_answer_at_all_is_retried_then_named(server):
  server.close()
  waits = []
  with pytest.raises(errors.FetchError, match=r'^gone: no answer .*tried 2 '):
    http_fetch.get_json(_tracks_url(server), 'gone',
                        http_fetch.Retry(attempts=2, first_wait=0.5),
                        sleep=waits.append)
  assert waits == [0.5]


@pytest.mark.parametrize('status, retried', [(500, True), (599, True),
                                             (429, True), (600, False),
                                             (499, False), (404, False)])
def test_which_statuses_are_asked_again(server, status, retried):
  server.faults['status'] = status
  waits = []
  with pytest.raises(errors.FetchError, match=f'^page: HTTP {status}'):
    http_fetch.get_json(_tracks_url(server), 'page',
                        http_fetch.Retry(attempts=2, first_wait=0),
                        sleep=waits.append)
  assert len(waits) == (1 if retried else 0)


def test_an_answer_cut_short_is_asked_again_then_named(server):
  server.faults['cut_answer'] = 1
  with pytest.raises(errors.FetchError, match=r'^page: answer cut short '
                     r'\(IncompleteRead.*\(tried 2 times\)$'):
    http_fetch.get_json(_tracks_url(server), 'page',
                        http_fetch.Retry(attempts=2, first_wait=0),
                        sleep=lambda s: None)


def test_a_server_that_never_answers_times_out(server, monkeypatch):
  monkeypatch.setattr(http_fetch, 'TIMEOUT_SECONDS', 0.2)
  server.faults['stalled'] = threading.Event()
  try:
    with pytest.raises(errors.FetchError, match=r'^page: no answer \(timed '
                       r'out\) \(tried 2 times\)$'):
      http_fetch.get_json(_tracks_url(server), 'page',
                          http_fetch.Retry(attempts=2, first_wait=0),
                          sleep=lambda s: None)
  finally:
    server.faults['stalled'].set()


def test_a_refused_connection_is_named_with_its_reason(server):
  server.close()
  with pytest.raises(errors.FetchError, match=r'no answer \(\[Errno 111\] '
                     'Connection refused\\)'):
    http_fetch.get_json(_tracks_url(server), 'page',
                        http_fetch.Retry(attempts=1), sleep=lambda s: None)


def test_a_download_to_a_bare_file_name_lands_in_the_working_folder(
    server, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  http_fetch.download(f'{server.root}/download/1000', 'song.mp3', 'song')
  assert (tmp_path / 'song.mp3').read_bytes() == server.audio
  assert os.listdir(tmp_path) == ['song.mp3']


def test_a_download_of_many_chunks_is_counted_whole(server, tmp_path):
  server.audio = os.urandom(5 * 65536 + 123)  # Six reads of the response.
  got = http_fetch.download(f'{server.root}/download/1000',
                            str(tmp_path / 'big.mp3'), 'big')
  assert got.size == len(server.audio)
  assert (tmp_path / 'big.mp3').read_bytes() == server.audio


def test_a_write_that_fails_names_the_partial_file_and_leaves_nothing(
    server, tmp_path):
  """A file size limit makes write() fail with no file name (as a full disk
  does); the error names the file and no .part is left."""
  previous_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
  previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
  target = tmp_path / 'song.mp3'
  try:
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, previous_limit[1]))
    with pytest.raises(OSError) as raised:
      http_fetch.download(f'{server.root}/download/1000', str(target), 'song')
  finally:
    resource.setrlimit(resource.RLIMIT_FSIZE, previous_limit)
    signal.signal(signal.SIGXFSZ, previous_handler)
  assert raised.value.errno == errno.EFBIG
  assert raised.value.filename == f'{target}.part'
  assert os.listdir(tmp_path) == []
