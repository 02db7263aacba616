"""Jamendo's v3.0 API as spotipop reads it: the request for a page of tracks
and where each value sits in the answer. Jamendo's field names are written
here and nowhere else (https://developer.jamendo.com/v3.0/tracks).

An answer is {"headers": {"status", "code", "error_message", ...},
"results": [track, ...]}; code 0 is success (response-codes page).
"""

import urllib.parse

from spotipop import errors
from spotipop.data import http_fetch

API_URL = 'https://api.jamendo.com/v3.0'
PAGE_SIZE = 200  # The largest `limit` the API serves.
# --audio_format (the API's audiodlformat) -> the downloaded file's extension.
AUDIO_FORMATS = {'mp31': 'mp3', 'mp32': 'mp3', 'ogg': 'ogg', 'flac': 'flac'}
# Listing orders --order offers; 'id' is stable between calls.
ORDERS = ('id', 'releasedate', 'popularity_total', 'listens_total',
          'downloads_total')
INVALID_CLIENT_ID = 5
RATE_LIMIT_EXCEEDED = 6

# Manifest column -> the path of its value in a track of the answer.
FIELDS = {
    'track_id': ('id',),
    'title': ('name',),
    'artist': ('artist_name',),
    'artist_id': ('artist_id',),
    'album_id': ('album_id',),
    'release_date': ('releasedate',),
    'duration': ('duration',),  # Seconds.
    'listens': ('stats', 'rate_listened_total'),
    'downloads': ('stats', 'rate_downloads_total'),
    'favorites': ('stats', 'favorited'),
    'playlisted': ('stats', 'playlisted'),
    'likes': ('stats', 'likes'),
    'vocal_instrumental': ('musicinfo', 'vocalinstrumental'),
    'licence_url': ('license_ccurl',),
    'track_page': ('shareurl',),
}
GENRES = ('musicinfo', 'tags', 'genres')  # A list; its first is `genre`.
DOWNLOAD_URL = ('audiodownload',)
DOWNLOAD_ALLOWED = ('audiodownload_allowed',)  # The artist's permission.


def tracks_url(api_url, client_id, offset, limit, order, tags, audio_format):
  """The request for `limit` tracks from `offset` in `order`."""
  query = {'client_id': client_id, 'format': 'json', 'offset': offset,
           'limit': limit, 'order': order,
           'include': 'musicinfo stats licenses',
           'audiodlformat': audio_format}
  if tags:
    query['tags'] = ' '.join(tags)
  return f'{api_url.rstrip("/")}/tracks/?{urllib.parse.urlencode(query)}'


def check_headers(document):
  """Raises for an answer whose headers report a failure: FlagError for an
  unknown client id, TryAgain for the rate limit, FetchError otherwise."""
  headers = document.get('headers') if isinstance(document, dict) else None
  if not isinstance(headers, dict) or 'code' not in headers:
    raise errors.FetchError("Jamendo's answer has no headers.code: "
                            f'{str(document)[:80]}')
  code, message = headers['code'], headers.get('error_message', '')
  if str(code) == '0':
    return
  if str(code) == str(INVALID_CLIENT_ID):
    raise errors.FlagError(f'--client_id: Jamendo does not know it ({message})')
  if str(code) == str(RATE_LIMIT_EXCEEDED):
    raise http_fetch.TryAgain(f'rate limit exceeded ({message})')
  raise errors.FetchError(f'Jamendo refused the request: code {code}: '
                          f'{message}')


def _value(track, path, where):
  value = track
  for key in path:
    if not isinstance(value, dict) or key not in value:
      raise errors.FetchError(f"{where}: Jamendo's answer has no field "
                              f"'{'.'.join(path)}'")
    value = value[key]
  return value


def _text(value):
  return '' if value is None else str(value)


def tracks(document, where):
  """The answer's tracks, each {column: text} for FIELDS plus 'genre',
  'genres' (space-separated), 'download_url' and 'download_allowed'."""
  results = document.get('results')
  if not isinstance(results, list):
    raise errors.FetchError(f"{where}: Jamendo's answer has no field "
                            "'results' (a list)")
  read = []
  for index, track in enumerate(results):
    track_where = f'{where}, track {index + 1}'
    row = {column: _text(_value(track, path, track_where))
           for column, path in FIELDS.items()}
    if not row['track_id'].isdigit():
      raise errors.FetchError(f"{track_where}: field 'id' is "
                              f"{row['track_id']!r}, not a number")
    genres = _value(track, GENRES, track_where)
    if not isinstance(genres, list):
      raise errors.FetchError(f"{track_where}: field '{'.'.join(GENRES)}' is "
                              'not a list')
    row['genre'] = _text(genres[0]) if genres else ''
    row['genres'] = ' '.join(_text(g) for g in genres)
    row['download_url'] = _text(_value(track, DOWNLOAD_URL, track_where))
    allowed = _value(track, DOWNLOAD_ALLOWED, track_where)
    row['download_allowed'] = allowed in (True, 'true', '1', 1)
    read.append(row)
  return read
