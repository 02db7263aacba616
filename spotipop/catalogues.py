"""Turns a public catalogue's own metadata into a spotipop manifest.

  python -m spotipop.catalogues fma --metadata_dir=fma_metadata \\
      --audio_dir=fma_large --out=catalogues/fma --subset=small

writes OUT/manifest.csv, OUT/missing_audio.txt (tracks of the subset whose
audio file is not under --audio_dir) and OUT/fma.flags, which trains on it:

  python -m spotipop.main --flagfile=catalogues/fma/fma.flags

data/fma_import.py says what each manifest column holds.
"""

import os

from absl import flags

from spotipop import cli
from spotipop import errors
from spotipop.data import fma_import
from spotipop.storage import atomic_files

flags.DEFINE_string('metadata_dir', None, "FMA's fma_metadata folder "
                    '(tracks.csv, and echonest.csv where present).')
flags.DEFINE_string('audio_dir', None, 'The folder of the 000/000002.mp3 '
                    'audio tree (fma_small, fma_large, fma_full, ...).')
flags.DEFINE_string('out', None, 'Folder for the manifest and its flagfile.')
flags.DEFINE_enum('subset', 'small', list(fma_import.SUBSETS),
                  "FMA's subset: small, medium and large nest; full is all.")
flags.DEFINE_list('exclude', [], 'Leave out tracks whose licence is '
                  f'{" or ".join(fma_import.LICENCE_FLAGS)}.')

CATALOGUES = ('fma',)


def main(argv):
  if argv[1:] != ['fma']:
    raise errors.SpotipopError(f'give one catalogue, one of {CATALOGUES}: '
                               'python -m spotipop.catalogues fma ...')
  f = flags.FLAGS
  for name in ('metadata_dir', 'audio_dir', 'out'):
    if not getattr(f, name):
      raise errors.FlagError(f'--{name} is required')
  imported = fma_import.write_manifest(f.metadata_dir, f.audio_dir, f.out,
                                       f.subset, f.exclude)
  flagfile = os.path.join(f.out, 'fma.flags')
  with atomic_files.replaced(flagfile) as out:
    out.write(fma_import.flagfile(imported, f.audio_dir))
  print(f'{imported.manifest}: {imported.tracks} tracks of the {f.subset} '
        f'subset ({imported.with_echonest} with Echo Nest features); '
        f'{len(imported.missing_audio)} without their audio file (listed in '
        f'{os.path.join(f.out, "missing_audio.txt")}), {imported.excluded} '
        f'left out by licence\ntrain: python -m spotipop.main '
        f'--flagfile={flagfile}')


if __name__ == '__main__':
  cli.run(main, 'spotipop.catalogues', takes_arguments=True)
