"""A stand-in for Jamendo's v3.0 API on 127.0.0.1, for the collector's tests.

It serves /v3.0/tracks/ as Jamendo documents it (headers + results, offset
and limit, include=musicinfo stats licenses) over a generated catalogue, and
each track's audio (a real MP3 of a tone) at /download/<id>. Faults a test
sets on `faults` before a request:

  busy: answer the next N tracks requests with 429 and Retry-After: 0
  rate_limited: answer the next N with Jamendo's code 6 inside a 200
  unavailable: answer every tracks request with 503
  truncate: track ids whose download stops halfway (Content-Length whole)
  missing_field: a (key, ...) path removed from every track
  not_json: answer tracks requests with an HTML page
  stalled: a threading.Event; tracks requests wait until it is set
  cut_answer: answer tracks requests with half their JSON (length whole)
  status: answer every tracks request with this HTTP status
"""

import collections
import http.server
import io
import json
import threading
import urllib.parse

import numpy as np
import soundfile as sf

CLIENT_ID = 'test-client'
LICENCES = ('http://creativecommons.org/licenses/by/3.0/',
            'http://creativecommons.org/licenses/by-nc-nd/3.0/',
            'http://creativecommons.org/licenses/by-sa/4.0/')


def tone(seconds=1.0, frequency=440.0, sample_rate=8000):
  """MP3 bytes of a sine tone."""
  t = np.arange(int(seconds * sample_rate)) / sample_rate
  buffer = io.BytesIO()
  sf.write(buffer, (0.3 * np.sin(2 * np.pi * frequency * t)).astype(
      np.float32), sample_rate, format='MP3')
  return buffer.getvalue()


def catalogue(count, not_downloadable=()):
  """`count` tracks shaped as Jamendo's answer: six artists, three
  licences, two release years; indices in not_downloadable forbid download."""
  tracks = []
  for i in range(count):
    track_id = str(1000 + i)
    tracks.append({
        'id': track_id, 'name': f'Song {i}', 'duration': 180 + i,
        'artist_id': str(10 + i % 6), 'artist_name': f'Artist {i % 6}',
        'album_id': str(500 + i // 3), 'album_name': f'Album {i // 3}',
        'releasedate': f'{2015 + i % 2}-0{1 + i % 9}-1{i % 10}',
        'license_ccurl': LICENCES[i % len(LICENCES)],
        'shareurl': f'https://www.jamendo.com/track/{track_id}',
        'audio': f'https://stream.invalid/{track_id}',
        'audiodownload': None,  # Set to the server's URL when served.
        'audiodownload_allowed': i not in not_downloadable,
        'musicinfo': {'vocalinstrumental': ('vocal', 'instrumental')[i % 2],
                      'lang': 'en', 'gender': '', 'acousticelectric': '',
                      'speed': 'medium',
                      'tags': {'genres': [('rock', 'pop', 'jazz')[i % 3],
                                          'indie'][:1 + i % 2],
                               'instruments': [], 'vartags': []}},
        'licenses': {'ccnc': 'false', 'ccnd': 'false', 'ccsa': 'false'},
        'stats': {'rate_downloads_total': 7 * i, 'rate_listened_total': 100 *
                  (i + 1) ** 2, 'playlisted': i, 'favorited': i // 2,
                  'likes': i // 3, 'dislikes': 0, 'avgnote': 0, 'notes': 0},
    })
  return tracks


class Server:
  """Serves `tracks` and their audio until close(); see the module doc."""

  def __init__(self, tracks):
    self.tracks = tracks
    self.audio = tone()
    self.faults = collections.defaultdict(int)
    self.faults['truncate'] = set()
    self.requests = []  # (path, query) of every request.
    self.downloads = collections.Counter()  # Track id -> requests.
    handler = type('Handler', (_Handler,), {'server_state': self})
    self._http = _QuietServer(('127.0.0.1', 0), handler)
    host, port = self._http.server_address
    self.root = f'http://{host}:{port}'
    self.api_url = f'{self.root}/v3.0'
    threading.Thread(target=self._http.serve_forever, args=(0.05,),
                     daemon=True).start()

  def close(self):
    self._http.shutdown()
    self._http.server_close()


class _QuietServer(http.server.ThreadingHTTPServer):
  def handle_error(self, request, client_address):
    """A client the test made give up (a timeout) breaks its pipe: expected."""


class _Handler(http.server.BaseHTTPRequestHandler):
  server_state = None

  def log_message(self, *args):  # Quiet: the tests read `requests`.
    pass

  def _send(self, status, body, content_type='application/json',
            headers=(), length=None):
    self.send_response(status)
    self.send_header('Content-Type', content_type)
    self.send_header('Content-Length', str(len(body) if length is None
                                           else length))
    for name, value in headers:
      self.send_header(name, value)
    self.end_headers()
    self.wfile.write(body)

  def _jamendo(self, code=0, message='', results=()):
    document = {'headers': {'status': 'success' if code == 0 else 'failed',
                            'code': code, 'error_message': message,
                            'warnings': '', 'results_count': len(results)},
                'results': list(results)}
    body = json.dumps(document).encode()
    if self.server_state.faults['cut_answer']:
      self._send(200, body[:len(body) // 2], length=len(body))
      self.close_connection = True
      return
    self._send(200, body)

  def do_GET(self):  # pylint: disable=invalid-name
    state = self.server_state
    url = urllib.parse.urlsplit(self.path)
    query = dict(urllib.parse.parse_qsl(url.query))
    state.requests.append((url.path, query))
    if url.path.startswith('/download/'):
      return self._download(url.path.rsplit('/', 1)[1])
    if not url.path.startswith('/v3.0/'):
      return self._send(404, b'not found', 'text/plain')
    if url.path != '/v3.0/tracks/':
      return self._jamendo(7, 'Method Not Found')
    faults = state.faults
    if faults['stalled']:
      faults['stalled'].wait()
    if faults['unavailable']:
      return self._send(503, b'busy')
    if faults['status']:
      return self._send(faults['status'], b'status', 'text/plain')
    if faults['busy']:
      faults['busy'] -= 1
      return self._send(429, b'slow down', headers=[('Retry-After', '0')])
    if faults['rate_limited']:
      faults['rate_limited'] -= 1
      return self._jamendo(6, 'Rate Limit Exceeded')
    if faults['not_json']:
      return self._send(200, b'<html>maintenance</html>', 'text/html')
    if query.get('client_id') != CLIENT_ID:
      return self._jamendo(5, 'Invalid Client Id')
    offset, limit = int(query['offset']), int(query['limit'])
    page = []
    for track in state.tracks[offset:offset + limit]:
      track = json.loads(json.dumps(track))
      track['audiodownload'] = f'{state.root}/download/{track["id"]}'
      if faults['missing_field']:
        *parents, last = faults['missing_field']
        holder = track
        for key in parents:
          holder = holder[key]
        del holder[last]
      page.append(track)
    return self._jamendo(results=page)

  def _download(self, track_id):
    state = self.server_state
    state.downloads[track_id] += 1
    body = state.audio
    if track_id in state.faults['truncate']:
      self._send(200, body[:len(body) // 2], 'audio/mpeg', length=len(body))
      self.close_connection = True
      return
    self._send(200, body, 'audio/mpeg')
