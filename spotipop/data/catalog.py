"""TFDS builder: a CSV manifest plus a folder of audio -> array_record splits.

The built dataset carries everything training needs in its metadata: feature
normalisation statistics and the genre vocabulary, both from the train split
only, class counts per split, and a build report listing every manifest row
that was skipped and why.
"""

import collections
import concurrent.futures
import dataclasses
import functools
import hashlib
import importlib.resources
import json
import os

from absl import logging
import numpy as np
import tensorflow_datasets as tfds

from spotipop import config as config_lib
from spotipop import errors
from spotipop.audio import decode
from spotipop.config import DataConfig
from spotipop.data import features as features_lib
from spotipop.data import manifest
from spotipop.data import popularity
from spotipop.data import splits as splits_lib

SPLITS = splits_lib.SPLITS
LABEL_NAMES = ('not_popular', 'popular')


def demo_manifest():
  """Path of the embedded demo catalogue's manifest."""
  return str(importlib.resources.files('spotipop.data') / 'demo' /
             'manifest.csv')


def num_samples(data: DataConfig):
  return int(round(data.clip_seconds * data.sample_rate))


@dataclasses.dataclass(eq=False, repr=False)
class CatalogConfig(tfds.core.BuilderConfig):
  data: DataConfig | None = None
  # Tabular-only models need no audio: none is read, decoded or stored.
  with_audio: bool = True

  def __repr__(self):  # TFDS logs it on every build; the name says enough.
    return f'CatalogConfig({self.name}, manifest={self.data.manifest})'


# Data settings added since datasets were first named: at their defaults
# (descriptor_seconds also without descriptors) they stay out of the name, so
# a dataset built before them keeps its name and is not built again.
ADDED_SETTINGS = ('descriptors', 'descriptor_seconds', 'popularity_from',
                  'popularity_within_year', 'popularity_lower_is_better')


def builder_config(data: DataConfig, with_audio=True):
  """A builder config whose name changes whenever the built data would."""
  path = data.manifest or demo_manifest()
  digest = hashlib.sha256()
  try:
    with open(path, 'rb') as f:
      digest.update(f.read())
  except OSError as e:
    raise errors.ManifestError(
        f'{path}: cannot open manifest ({e.strerror})') from None
  settings = dataclasses.asdict(data)
  for name in config_lib.BUILD_PLACE_FIELDS:
    del settings[name]
  defaults = DataConfig()
  for name in ADDED_SETTINGS:
    if (settings[name] == getattr(defaults, name) or
        (name == 'descriptor_seconds' and data.descriptors == 'none')):
      del settings[name]
  settings['manifest'] = os.path.abspath(path)
  settings['with_audio'] = with_audio
  digest.update(json.dumps(settings, sort_keys=True).encode())
  stem = os.path.splitext(os.path.basename(path))[0]
  name = f'{stem}_{digest.hexdigest()[:12]}'
  return CatalogConfig(name=name, data=dataclasses.replace(data, manifest=path),
                       with_audio=with_audio)


def label(track, data: DataConfig):
  return int(track.popularity >= data.popularity_threshold)


def reads_audio(data: DataConfig, with_audio):
  """Whether a build decodes audio: to store clips, or for descriptors."""
  return with_audio or data.descriptors == 'audio'


def split_metadata(name, tracks, data: DataConfig, decoded=True):
  """Class counts of a split; for train also the feature transform, genres.

  Before decoding (decoded=False) the descriptors are not known yet: the
  transform is fitted on the manifest's columns alone, which checks them.
  """
  metadata = {'class_counts': [sum(label(t, data) == c for t in tracks)
                               for c in (0, 1)]}
  if name == 'train':
    fitted = data if decoded else dataclasses.replace(data, descriptors='none')
    metadata['feature_stats'] = features_lib.fit(tracks, fitted)
    # Genres unseen in training map to one extra 'unknown' id.
    metadata['genre_vocab'] = sorted({t.genre for t in tracks})
  return metadata


def probe_error(track, data: DataConfig, with_audio):
  """Why a track's audio is unusable, judged from its header; None if usable."""
  if reads_audio(data, with_audio):
    try:
      decode.probe(track.audio_path, data.min_clip_seconds)
    except errors.AudioError as e:
      return str(e)
  return None


def skip_record(track, reason):
  """A build report entry; entries are listed in manifest order."""
  return {'row': track.row, 'track_id': track.track_id, 'reason': reason}


def check_skipped(data: DataConfig, skipped, tracks):
  if skipped > data.max_skip_fraction * tracks:
    raise errors.DataError(
        f'{data.manifest}: {skipped} of {tracks} tracks have unusable audio, '
        f'over --max_skip_fraction={data.max_skip_fraction:g}; the warnings '
        'above name each file and why')


def example(track, clip, data: DataConfig):
  """A track's stored example; clip is None when no audio is stored."""
  result = {
      'track_id': track.track_id,
      'features': np.asarray(track.features, np.float32),
      'label': label(track, data),
      'popularity': np.float32(track.popularity),
      'genre': track.genre,
      'release_year': np.int32(track.release_year),
      'group': track.group,
  }
  if clip is not None:
    result['audio'] = decode.to_pcm16(clip)
  return result


def clip_loader(data: DataConfig):
  """path -> the fixed-length float clip the model sees, under these settings."""
  return functools.partial(decode.load_clip, sample_rate=data.sample_rate,
                           clip_seconds=data.clip_seconds,
                           min_seconds=data.min_clip_seconds)


def audio_loader(data: DataConfig):
  """path -> (clip, descriptor values): the values are () unless
  --descriptors=audio. Raises errors.AudioError for an unusable file."""
  if data.descriptors == 'none':
    load = clip_loader(data)
    return lambda path: (load(path), ())
  # Imported here: it compiles with JAX, which a build without descriptors
  # (and a tool that only reads a dataset) need not load.
  from spotipop.audio import file_descriptors  # pylint: disable=g-import-not-at-top
  return functools.partial(
      file_descriptors.load, sample_rate=data.sample_rate,
      clip_seconds=data.clip_seconds, min_seconds=data.min_clip_seconds,
      window_seconds=data.descriptor_seconds)


def decoded_track(track, data: DataConfig, with_audio, load=None):
  """(the track with its descriptors appended to its features, its clip or
  None when no audio is stored); load is audio_loader(data)'s function.

  Raises errors.AudioError for an unusable file.
  """
  if not reads_audio(data, with_audio):
    return track, None
  clip, values = (load or audio_loader(data))(track.audio_path)
  if values:
    track = dataclasses.replace(track, features=(*track.features, *values))
  return track, clip if with_audio else None


def ordered_map(fn, items, workers=None):
  """fn over items on a thread pool, in order, at most 2 x workers ahead.

  Decoding dominates a build; libsndfile and scipy release the GIL, so threads
  decode in parallel while memory stays bounded.
  """
  workers = workers or os.cpu_count() or 1
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    pending = collections.deque()
    for item in items:
      pending.append(pool.submit(fn, item))
      if len(pending) >= 2 * workers:
        yield pending.popleft().result()
    while pending:
      yield pending.popleft().result()


class SpotipopCatalog(tfds.core.GeneratorBasedBuilder):
  """Music tracks with audio clips, Spotify features and popularity labels."""

  VERSION = tfds.core.Version('1.3.0')
  METADATA = tfds.core.MetadataDict
  RELEASE_NOTES = {'1.1.0': 'Genre vocabulary in the metadata.',
                   '1.2.0': 'Audio stored as 16-bit PCM.',
                   '1.3.0': 'Column mapping, group split, optional audio.'}

  def _info(self):
    data = self.builder_config.data
    features = {
        'track_id': tfds.features.Text(),
        'features': tfds.features.Tensor(
            shape=(len(features_lib.model_columns(data)),), dtype=np.float32),
        'label': tfds.features.ClassLabel(names=LABEL_NAMES),
        'popularity': np.float32,
        'genre': tfds.features.Text(),
        'release_year': np.int32,
        'group': tfds.features.Text(),
    }
    if self.builder_config.with_audio:
      # 16-bit PCM as raw bytes: half the disk, reads and host-to-device
      # traffic of float32 (the model converts on the device). Without BYTES,
      # tf.Example would store int16 as slow-to-parse int64s.
      features['audio'] = tfds.features.Tensor(
          shape=(num_samples(data),), dtype=np.int16,
          encoding=tfds.features.Encoding.BYTES)
    return tfds.core.DatasetInfo(
        builder=self,
        description=self.__doc__,
        features=tfds.features.FeaturesDict(features),
        metadata=self.METADATA(),
    )

  def _split_generators(self, dl_manager):
    del dl_manager
    data, with_audio = self.builder_config.data, self.builder_config.with_audio
    read = self._read_manifest()
    splits, report = self._usable_splits(
        read, [probe_error(t, data, with_audio) for t in read.tracks])
    self.info.metadata.update({'class_counts': {}, 'build_report': report})
    for name, members in splits.items():  # Fails fast on bad features.
      self._describe_split(name, members, decoded=data.descriptors == 'none')
    return {name: self._generate_examples(name, members)
            for name, members in splits.items()}

  def _usable_splits(self, read, reasons):
    """Splits of the tracks whose probe found no reason to skip them.

    Returns them with the build report so far; fails when too few are usable.
    """
    data = self.builder_config.data
    kept, skipped = [], []
    for track, reason in zip(read.tracks, reasons):
      if reason is None:
        kept.append(track)
      else:
        logging.warning('Skipping manifest line %d (%s): %s', track.row,
                        track.track_id, reason)
        skipped.append(skip_record(track, reason))
    if not kept:
      raise errors.DataError(
          f'{data.manifest}: none of the {len(read.tracks)} tracks has usable '
          'audio; see the warnings above')
    check_skipped(data, len(skipped), len(read.tracks))
    splits, _ = popularity.apply(splits_lib.assign(kept, data), data)
    rows = len(read.tracks) + len(read.duplicates)
    logging.info('Catalogue %s: %d rows, %d kept, %d skipped, %d duplicates '
                 'dropped; splits %s', data.manifest, rows, len(kept),
                 len(skipped), len(read.duplicates),
                 {k: len(v) for k, v in splits.items()})
    return splits, {'manifest': data.manifest, 'rows': rows, 'kept': len(kept),
                    'skipped': skipped, 'duplicates_dropped': read.duplicates,
                    'label': popularity.describe(data)}

  def _read_manifest(self):
    data = self.builder_config.data
    read = manifest.read(data.manifest, data, with_audio=reads_audio(
        data, self.builder_config.with_audio))
    if read.duplicates:
      logging.warning('Dropped %d rows whose track id repeats an earlier row '
                      '(--duplicates=keep_first); listed in the build report',
                      len(read.duplicates))
    return read

  def _describe_split(self, name, tracks, decoded=True):
    metadata = split_metadata(name, tracks, self.builder_config.data, decoded)
    self.info.metadata['class_counts'][name] = metadata.pop('class_counts')
    self.info.metadata.update(metadata)

  def _generate_examples(self, name, tracks):
    """A split's examples; a file that fails to decode is skipped and listed.

    Its track leaves the split's metadata, computed again once the split is
    written if it lost any (or gained descriptors), and the build fails past
    --max_skip_fraction.
    """
    data, with_audio = self.builder_config.data, self.builder_config.with_audio
    decoded = ordered_map(functools.partial(_decoded_or_error, data=data,
                                            with_audio=with_audio,
                                            load=audio_loader(data)), tracks)
    report, written = self.info.metadata['build_report'], []
    for track, result in zip(tracks, decoded):
      if isinstance(result, errors.AudioError):
        logging.warning('Skipping manifest line %d (%s): %s', track.row,
                        track.track_id, result)
        report['skipped'].append(skip_record(track, str(result)))
        report['kept'] -= 1
        check_skipped(data, len(report['skipped']),
                      report['rows'] - len(report['duplicates_dropped']))
        continue
      track, clip = result
      written.append(track)
      yield track.track_id, example(track, clip, data)
    if len(written) < len(tracks) or data.descriptors != 'none':
      report['skipped'].sort(key=lambda s: s['row'])
      self._describe_split(name, written)


def _decoded_or_error(track, data, with_audio, load):
  """decoded_track's (track, clip), or the AudioError that says why not."""
  try:
    return decoded_track(track, data, with_audio, load)
  except errors.AudioError as e:
    return e
