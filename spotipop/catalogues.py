"""Turns a public catalogue into a spotipop manifest and the flagfile that
trains on it.

  python -m spotipop.catalogues fma --metadata_dir=fma_metadata \\
      --audio_dir=fma_large --out=catalogues/fma --subset=small

reads FMA's own metadata and writes OUT/manifest.csv, OUT/missing_audio.txt
(tracks of the subset whose audio file is not under --audio_dir) and
OUT/fma.flags (data/fma_import.py says what each column holds);

  python -m spotipop.catalogues jamendo --client_id=ID --limit=2000 \\
      --out=catalogues/jamendo

collects tracks, their counts and their audio through Jamendo's API into
OUT/manifest.csv, OUT/audio/, OUT/attribution.csv, OUT/failed_downloads.txt
and OUT/jamendo.flags (data/jamendo_import.py); run again, it continues. Then

  python -m spotipop.main --flagfile=OUT/<catalogue>.flags
"""

import os

from absl import flags

from spotipop import cli
from spotipop import errors
from spotipop.data import catalogue_flags
from spotipop.data import fma_import
from spotipop.data import http_fetch
from spotipop.data import jamendo_api
from spotipop.data import jamendo_import
from spotipop.data import licences
from spotipop.storage import atomic_files

flags.DEFINE_string('out', None, 'Folder for the manifest and its flagfile.')
flags.DEFINE_list('exclude', [], 'Leave out tracks whose licence is '
                  f'{" or ".join(licences.TERMS)}.')
flags.DEFINE_string('metadata_dir', None, "fma: FMA's fma_metadata folder "
                    '(tracks.csv, and echonest.csv where present).')
flags.DEFINE_string('audio_dir', None, 'fma: the folder of the '
                    '000/000002.mp3 audio tree (fma_small, fma_large, ...); '
                    'without it, the metadata alone trains the dense tower.')
flags.DEFINE_enum('subset', 'small', list(fma_import.SUBSETS),
                  "fma: FMA's subset: small, medium and large nest; full is "
                  'all.')
flags.DEFINE_string('client_id', None, 'jamendo: your API client id '
                    '(https://devportal.jamendo.com).')
flags.DEFINE_integer('limit', 500, 'jamendo: tracks to collect.')
flags.DEFINE_string('order', 'id', 'jamendo: the listing order, one of '
                    f'{jamendo_api.ORDERS}; id is stable between runs and '
                    'does not select on popularity.')
flags.DEFINE_list('tags', [], 'jamendo: only tracks with all these tags.')
flags.DEFINE_string('audio_format', 'mp32', 'jamendo: mp31, mp32, ogg or '
                    'flac; ogg and flac builds decode only the clip.')
flags.DEFINE_string('api_url', jamendo_api.API_URL, "jamendo: the API's base "
                    'URL.')
flags.DEFINE_integer('retries', http_fetch.Retry.attempts - 1,
                     'jamendo: tries after the first for a request that '
                     'fails with 429, 5xx or a dropped connection.')

CATALOGUES = ('fma', 'jamendo')
REQUIRED = {'fma': ('metadata_dir', 'out'),
            'jamendo': ('client_id', 'out')}


def _write_flagfile(catalogue, out, manifest, audio_dir, columns,
                    metadata_features=()):
  path = os.path.join(out, f'{catalogue}.flags')
  with atomic_files.replaced(path) as f:
    f.write(catalogue_flags.flagfile(
        catalogue, os.path.abspath(manifest),
        audio_dir and os.path.abspath(audio_dir), columns, metadata_features))
  return path


def _fma(f):
  imported = fma_import.write_manifest(f.metadata_dir, f.audio_dir, f.out,
                                       f.subset, f.exclude)
  flagfile = _write_flagfile('fma', f.out, imported.manifest, f.audio_dir,
                             fma_import.FLAG_COLUMNS,
                             fma_import.METADATA_FEATURES)
  print(f'{fma_import.summary(imported, f.subset, f.out, bool(f.audio_dir))}'
        f'\ntrain: python -m spotipop.main --flagfile={flagfile}')


def _jamendo(f):
  if f.retries < 0:
    raise errors.FlagError(f'--retries={f.retries}: must be 0 or more')
  collected = jamendo_import.collect(
      f.client_id, f.out, f.limit, f.order, f.tags, f.audio_format,
      f.exclude, f.api_url, http_fetch.Retry(attempts=f.retries + 1))
  flagfile = _write_flagfile('jamendo', f.out, collected.manifest,
                             os.path.join(f.out, 'audio'),
                             jamendo_import.FLAG_COLUMNS)
  print(f'{jamendo_import.summary(collected, f.out)}\n'
        f'train: python -m spotipop.main --flagfile={flagfile}')
  jamendo_import.check_complete(collected, f.out)


def main(argv):
  if len(argv) != 2 or argv[1] not in CATALOGUES:
    raise errors.SpotipopError(
        f'give one catalogue, one of {CATALOGUES}: python -m '
        'spotipop.catalogues fma ... (or jamendo ...)')
  catalogue, f = argv[1], flags.FLAGS
  for name in REQUIRED[catalogue]:
    if not getattr(f, name):
      raise errors.FlagError(f'--{name} is required for {catalogue}')
  {'fma': _fma, 'jamendo': _jamendo}[catalogue](f)


if __name__ == '__main__':
  cli.run(main, 'spotipop.catalogues', takes_arguments=True)
