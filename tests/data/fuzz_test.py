"""Fuzzing the two parsers of user files: they succeed or raise their own error.

The manifest reader and the audio loader get random bytes and mutated real
files. Each input must parse, or raise ManifestError / AudioError whose
message names the file: never another exception. SPOTIPOP_FUZZ_EXAMPLES sets
the number of inputs per test (default 100) for longer runs.
"""

import os

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from spotipop import errors
from spotipop.audio import decode
from spotipop.config import DataConfig
from spotipop.data import manifest

FUZZ = settings(max_examples=int(os.environ.get('SPOTIPOP_FUZZ_EXAMPLES', 100)),
                deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
DATA = DataConfig(feature_columns=('energy', 'tempo'), group_column='artist',
                  duplicates='keep_first')
VALID_MANIFEST = (b'track_id,artist,audio_path,popularity,genre,release_year,'
                  b'energy,tempo\n'
                  b't1,a,x.wav,55,"[\'pop\', \'rock\']",2001-02-03,0.5,120\n'
                  b't2,b,y.mp3,10,jazz,1999,0.1,true\n')


def mutated(seed_bytes):
  """Byte strings made from seed_bytes by flips, cuts, inserts and repeats."""
  edit = st.tuples(st.sampled_from(['flip', 'cut', 'insert', 'repeat']),
                   st.integers(0, len(seed_bytes)), st.binary(max_size=64))

  def apply(edits):
    data = bytearray(seed_bytes)
    for kind, at, payload in edits:
      at = min(at, len(data))
      if kind == 'flip' and data:
        data[min(at, len(data) - 1)] ^= (payload[:1] or b'\x01')[0] or 1
      elif kind == 'cut':
        del data[at:at + len(payload) * 16 + 1]
      elif kind == 'insert':
        data[at:at] = payload
      else:
        data[at:at] = data[at:at + 256] * 3
    return bytes(data)
  return st.lists(edit, min_size=1, max_size=8).map(apply)


def _check_manifest(path, content):
  with open(path, 'wb') as f:
    f.write(content)
  for labelled in (True, False):
    try:
      manifest.read(path, DATA, labelled=labelled)
    except errors.ManifestError as e:
      assert path in str(e), e


@FUZZ
@given(content=st.binary(max_size=2048))
def test_manifest_reader_on_random_bytes(tmp_path, content):
  _check_manifest(str(tmp_path / 'fuzz.csv'), content)


@FUZZ
@given(content=mutated(VALID_MANIFEST))
def test_manifest_reader_on_mutated_manifests(tmp_path, content):
  _check_manifest(str(tmp_path / 'fuzz.csv'), content)


@pytest.fixture(scope='module')
def real_clips(catalogue):
  """One real file of each format from the session catalogue."""
  folder = catalogue[1] / 'audio'
  by_format = {}
  for name in sorted(os.listdir(folder)):
    by_format.setdefault(os.path.splitext(name)[1], folder / name)
  return {ext: path.read_bytes() for ext, path in by_format.items()}


def _check_audio(path, content):
  with open(path, 'wb') as f:
    f.write(content)
  for load in (lambda: decode.probe(path, 0.1),
               lambda: decode.load_clip(path, 8000, 1.0, 0.1)):
    try:
      load()
    except errors.AudioError as e:
      assert path in str(e), e


@FUZZ
@given(content=st.binary(max_size=4096), ext=st.sampled_from(
    ['.wav', '.flac', '.ogg', '.mp3']))
def test_audio_loader_on_random_bytes(tmp_path, content, ext):
  _check_audio(str(tmp_path / f'fuzz{ext}'), content)


@pytest.mark.parametrize('ext', ['.wav', '.flac', '.ogg', '.mp3'])
def test_audio_loader_on_mutated_real_files(real_clips, tmp_path, ext):
  @FUZZ
  @given(content=mutated(real_clips[ext]))
  def check(content):
    _check_audio(str(tmp_path / f'fuzz{ext}'), content)
  check()
