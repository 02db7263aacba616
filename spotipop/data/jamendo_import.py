"""Jamendo's catalogue as a spotipop manifest, collected through its API.

`collect` pages through /tracks in a stable order, keeps the tracks whose
artist allows downloads (and whose licence --exclude does not rule out),
downloads each one's audio to OUT/audio/<id // 1000>/<id>.<ext>, and writes

  OUT/manifest.csv      one row per track: jamendo_api.FIELDS' columns (listens,
                        downloads, favorites, playlisted and likes are counts,
                        for --popularity_from), genre, genres, the licence's
                        terms, the audio's path, size and sha256, and the date
                        its counts were read;
  OUT/attribution.csv   artist, title, licence URL and track page of each
                        track, as Creative Commons attribution asks;
  OUT/failed_downloads.txt  tracks whose audio could not be fetched, and why.

Both CSVs are rewritten after every page, so an interrupted collection keeps
what it had; the same command continues it: audio already on disk (a file
under its final name is always whole: http_fetch.download) is not fetched
again, and the listing, read again from the start, refreshes the counts.
"""

import csv
import dataclasses
import datetime
import os

from absl import logging

from spotipop import errors
from spotipop.data import http_fetch
from spotipop.data import jamendo_api
from spotipop.data import licences
from spotipop.storage import atomic_files
from spotipop.storage import user_strings

MANIFEST_COLUMNS = (*jamendo_api.FIELDS, 'genre', 'genres', *licences.TERMS,
                    'audio_path', 'audio_bytes', 'audio_sha256', 'counted_on')
ATTRIBUTION_COLUMNS = ('track_id', 'artist', 'title', 'licence_url',
                       'track_page')
# Flag -> manifest column, for catalogue_flags.flagfile.
FLAG_COLUMNS = {
    'id_column': 'track_id', 'audio_column': 'audio_path',
    'popularity_column': 'listens', 'genre_column': 'genre',
    'release_column': 'release_date', 'group_column': 'artist_id'}


@dataclasses.dataclass(frozen=True)
class Collected:
  manifest: str
  tracks: int  # Rows written.
  downloaded: int  # Audio files fetched by this call.
  on_disk: int  # Audio files an earlier call had fetched.
  not_downloadable: int  # Tracks whose artist does not allow downloads.
  excluded: int  # Tracks left out by their licence.
  failed: list  # (track id, reason) of audio that could not be fetched.


def summary(collected, out):
  """The line `catalogues jamendo` prints of a collection: what was written,
  fetched now or before, and left out and why."""
  return (f'{collected.manifest}: {collected.tracks} tracks ('
          f'{collected.downloaded} downloaded now, {collected.on_disk} already '
          f'on disk); {collected.not_downloadable} not downloadable by their '
          f"artists' choice, {collected.excluded} left out by licence; "
          f'attribution in {os.path.join(out, "attribution.csv")}')


def check_complete(collected, out):
  """Raises errors.SomeTracksFailed when some audio could not be fetched:
  the collection is written, and the same command tries them again."""
  if collected.failed:
    raise errors.SomeTracksFailed(
        f'{len(collected.failed)} tracks could not be downloaded (listed in '
        f'{os.path.join(out, "failed_downloads.txt")}); the same command '
        'tries them again')


def audio_path(track_id, extension):
  """Where a track's audio goes under OUT/audio: 1,000 ids a folder."""
  return f'{int(track_id) // 1000}/{track_id}.{extension}'


def _previous_rows(manifest):
  """{track id: row} of a manifest an earlier call wrote, if any."""
  if not os.path.exists(manifest):
    return {}
  with open(manifest, newline='', encoding='utf-8') as f:
    return {row['track_id']: row for row in csv.DictReader(f)}


def _write_csv(path, columns, rows):
  with atomic_files.replaced(path, newline='', encoding='utf-8') as f:
    writer = csv.DictWriter(f, fieldnames=columns, extrasaction='ignore')
    writer.writeheader()
    writer.writerows(user_strings.csv_record(row) for row in rows)


def _check(limit, order, audio_format, exclude):
  if limit < 1:
    raise errors.FlagError(f'--limit={limit}: collect at least 1 track')
  if order not in jamendo_api.ORDERS:
    raise errors.FlagError(f'--order={order}: use one of '
                           f'{jamendo_api.ORDERS}')
  if audio_format not in jamendo_api.AUDIO_FORMATS:
    raise errors.FlagError(f'--audio_format={audio_format}: use one of '
                           f'{tuple(jamendo_api.AUDIO_FORMATS)}')
  licences.check_exclude(exclude)


def collect(client_id, out, limit, order='id', tags=(), audio_format='mp32',
            exclude=(), api_url=jamendo_api.API_URL,
            retry=http_fetch.Retry()):
  """Collects up to `limit` downloadable tracks into OUT; see the module doc.

  order: the listing's order ('id' is stable between calls, so a rerun
  continues where the last stopped, and does not select on popularity).
  """
  if not client_id:
    raise errors.FlagError('--client_id is required: get one at '
                           'https://devportal.jamendo.com')
  _check(limit, order, audio_format, exclude)
  audio_dir = os.path.join(out, 'audio')
  os.makedirs(audio_dir, exist_ok=True)
  manifest = os.path.join(out, 'manifest.csv')
  previous = _previous_rows(manifest)
  extension = jamendo_api.AUDIO_FORMATS[audio_format]
  today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
  rows, failed = {}, []
  downloaded = on_disk = not_downloadable = excluded = 0
  offset = 0
  while len(rows) < limit:
    where = f'Jamendo tracks from offset {offset}'
    url = jamendo_api.tracks_url(api_url, client_id, offset,
                                 jamendo_api.PAGE_SIZE, order, tags,
                                 audio_format)
    page = jamendo_api.tracks(
        http_fetch.get_json(url, where, retry, jamendo_api.check_headers),
        where)
    for track in page:
      if len(rows) >= limit:
        break
      track_id = track['track_id']
      if track_id in rows:
        continue  # The listing moved while it was read.
      if not track['download_allowed']:
        not_downloadable += 1
        continue
      terms = licences.terms_of_url(track['licence_url'])
      if licences.excluded(terms, exclude):
        excluded += 1
        continue
      path = audio_path(track_id, extension)
      local = os.path.join(audio_dir, path)
      if os.path.isfile(local):
        old = previous.get(track_id, {})
        digest = (http_fetch.Downloaded(int(old['audio_bytes']),
                                        old['audio_sha256'])
                  if old.get('audio_bytes') == str(os.path.getsize(local))
                  else http_fetch.file_digest(local))
        on_disk += 1
      else:
        try:
          digest = http_fetch.download(track['download_url'], local,
                                       f'track {track_id}', retry)
        except errors.FetchError as e:
          logging.warning('Skipping %s', e)
          failed.append((track_id, str(e)))
          continue
        downloaded += 1
      rows[track_id] = {**track, **terms, 'audio_path': path,
                        'audio_bytes': digest.size,
                        'audio_sha256': digest.sha256, 'counted_on': today}
    _write_csv(manifest, MANIFEST_COLUMNS, rows.values())
    _write_csv(os.path.join(out, 'attribution.csv'), ATTRIBUTION_COLUMNS,
               rows.values())
    logging.info('Jamendo: %d of %d tracks (%d downloaded, %d already on '
                 'disk); %d not downloadable, %d excluded by licence, %d '
                 'failed', len(rows), limit, downloaded, on_disk,
                 not_downloadable, excluded, len(failed))
    if len(page) < jamendo_api.PAGE_SIZE:
      break  # The listing's end.
    offset += jamendo_api.PAGE_SIZE
  with atomic_files.replaced(os.path.join(out, 'failed_downloads.txt')) as f:
    f.write(''.join(f'{track_id}\t{reason}\n' for track_id, reason in failed))
  return Collected(manifest, len(rows), downloaded, on_disk, not_downloadable,
                   excluded, failed)
