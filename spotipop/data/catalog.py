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
import glob
import hashlib
import importlib.resources
import itertools
import json
import os
import shutil

from absl import logging
import numpy as np
import tensorflow_datasets as tfds

from spotipop import audio
from spotipop import config as config_lib
from spotipop import errors
from spotipop.config import DataConfig
from spotipop.data import manifest
from spotipop.data import spill

SPLITS = ('train', 'validation', 'test')
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


def builder_config(data: DataConfig, with_audio=True):
  """A builder config whose name changes whenever the built data would."""
  path = data.manifest or demo_manifest()
  digest = hashlib.sha256()
  try:
    with open(path, 'rb') as f:
      digest.update(f.read())
  except OSError as e:
    raise manifest.ManifestError(
        f'{path}: cannot open manifest ({e.strerror})') from None
  settings = dataclasses.asdict(data)
  for name in config_lib.BUILD_PLACE_FIELDS:
    del settings[name]
  settings['manifest'] = os.path.abspath(path)
  settings['with_audio'] = with_audio
  digest.update(json.dumps(settings, sort_keys=True).encode())
  stem = os.path.splitext(os.path.basename(path))[0]
  name = f'{stem}_{digest.hexdigest()[:12]}'
  return CatalogConfig(name=name, data=dataclasses.replace(data, manifest=path),
                       with_audio=with_audio)


def _group_split(tracks, data: DataConfig):
  """Whole groups to each split, in a seeded random order of the groups.

  A group lands in the split where the middle of its tracks falls when the
  shuffled groups are laid end to end, so split sizes come close to the
  fractions however unequal the groups are.
  """
  members = collections.defaultdict(list)
  for i, track in enumerate(tracks):
    members[track.group].append(i)
  names = sorted(members)
  order = np.random.default_rng(data.split_seed).permutation(len(names))
  cuts = np.cumsum(data.split_fractions)[:2] * len(tracks)
  splits, start = {name: [] for name in SPLITS}, 0
  for g in order:
    rows = members[names[g]]
    split = SPLITS[int(np.searchsorted(cuts, start + len(rows) / 2))]
    splits[split] += [tracks[i] for i in rows]
    start += len(rows)
  return splits


def assign_splits(tracks, data: DataConfig):
  """Random, time (newest releases held out) or group (e.g. unseen artists)."""
  if data.split == 'group':
    splits = _group_split(tracks, data)
  else:
    if data.split == 'time':
      order = sorted(range(len(tracks)), key=lambda i: (
          tracks[i].release_date, tracks[i].track_id))
    else:
      order = np.random.default_rng(data.split_seed).permutation(len(tracks))
    n_train = int(round(data.split_fractions[0] * len(tracks)))
    n_val = int(round(data.split_fractions[1] * len(tracks)))
    bounds = (0, n_train, n_train + n_val, len(tracks))
    splits = {name: [tracks[i] for i in order[lo:hi]]
              for name, lo, hi in zip(SPLITS, bounds, bounds[1:])}
  for name, members in splits.items():
    if not members:
      raise errors.DataError(
          f'--split_fractions={data.split_fractions} leaves the {name} split '
          f'of {len(tracks)} tracks empty'
          + (f' ({len({t.group for t in tracks})} groups)'
             if data.split == 'group' else ''))
  return splits


QUANTILES = 1001


def feature_stats(train_tracks, data: DataConfig):
  """The feature transform's parameters, fitted on the train split only.

  Always: log1p where configured, then mean and std. For 'quantile' also
  QUANTILES evenly spaced quantiles of every (log1p'd) column.
  """
  log1p = np.array([c in data.log1p_columns for c in data.feature_columns])
  x = np.array([t.features for t in train_tracks], np.float64)
  if np.any(x[:, log1p] <= -1):
    bad = [c for c, on in zip(data.feature_columns, log1p)
           if on and np.any(x[:, data.feature_columns.index(c)] <= -1)]
    raise errors.DataError(f'--log1p_columns: {bad} have values <= -1')
  x[:, log1p] = np.log1p(x[:, log1p])
  std = x.std(axis=0)
  stats = {'columns': list(data.feature_columns), 'log1p': log1p.tolist(),
           'transform': data.feature_transform,
           'mean': x.mean(axis=0).tolist(),
           'std': np.where(std > 0, std, 1.0).tolist()}
  if data.feature_transform == 'quantile':
    stats['quantiles'] = np.quantile(
        x, np.linspace(0, 1, QUANTILES), axis=0).T.tolist()
  return stats


def label(track, data: DataConfig):
  return int(track.popularity >= data.popularity_threshold)


def split_metadata(name, tracks, data: DataConfig):
  """Class counts of a split; for train also the feature transform, genres."""
  metadata = {'class_counts': [sum(label(t, data) == c for t in tracks)
                               for c in (0, 1)]}
  if name == 'train':
    metadata['feature_stats'] = feature_stats(tracks, data)
    # Genres unseen in training map to one extra 'unknown' id.
    metadata['genre_vocab'] = sorted({t.genre for t in tracks})
  return metadata


def probe_error(track, data: DataConfig, with_audio):
  """Why a track's audio is unusable, judged from its header; None if usable."""
  if with_audio:
    try:
      audio.probe(track.audio_path, data.min_clip_seconds)
    except audio.AudioError as e:
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
    result['audio'] = audio.to_pcm16(clip)
  return result


def clip_loader(data: DataConfig):
  """path -> the fixed-length float clip the model sees, under these settings."""
  return functools.partial(audio.load_clip, sample_rate=data.sample_rate,
                           clip_seconds=data.clip_seconds,
                           min_seconds=data.min_clip_seconds)


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
            shape=(len(data.feature_columns),), dtype=np.float32),
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
      self._describe_split(name, members)
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
    splits = assign_splits(kept, data)
    rows = len(read.tracks) + len(read.duplicates)
    logging.info('Catalogue %s: %d rows, %d kept, %d skipped, %d duplicates '
                 'dropped; splits %s', data.manifest, rows, len(kept),
                 len(skipped), len(read.duplicates),
                 {k: len(v) for k, v in splits.items()})
    return splits, {'manifest': data.manifest, 'rows': rows, 'kept': len(kept),
                    'skipped': skipped, 'duplicates_dropped': read.duplicates}

  def _read_manifest(self):
    data = self.builder_config.data
    read = manifest.read(data.manifest, data,
                         with_audio=self.builder_config.with_audio)
    if read.duplicates:
      logging.warning('Dropped %d rows whose track id repeats an earlier row '
                      '(--duplicates=keep_first); listed in the build report',
                      len(read.duplicates))
    return read

  def _describe_split(self, name, tracks):
    metadata = split_metadata(name, tracks, self.builder_config.data)
    self.info.metadata['class_counts'][name] = metadata.pop('class_counts')
    self.info.metadata.update(metadata)

  def _generate_examples(self, name, tracks):
    """A split's examples; a file that fails to decode is skipped and listed.

    Its track leaves the split's metadata, computed again once the split is
    written if it lost any, and the build fails past --max_skip_fraction.
    """
    data = self.builder_config.data
    loader = clip_loader(data)
    clips = (ordered_map(functools.partial(_clip_or_error, loader),
                         [t.audio_path for t in tracks])
             if self.builder_config.with_audio else itertools.repeat(None))
    report, written = self.info.metadata['build_report'], []
    for track, clip in zip(tracks, clips):
      if isinstance(clip, audio.AudioError):
        logging.warning('Skipping manifest line %d (%s): %s', track.row,
                        track.track_id, clip)
        report['skipped'].append(skip_record(track, str(clip)))
        report['kept'] -= 1
        check_skipped(data, len(report['skipped']),
                      report['rows'] - len(report['duplicates_dropped']))
        continue
      written.append(track)
      yield track.track_id, example(track, clip, data)
    if len(written) < len(tracks):
      report['skipped'].sort(key=lambda s: s['row'])
      self._describe_split(name, written)


def _clip_or_error(loader, path):
  """The clip, or the AudioError that says why this file has none."""
  try:
    return loader(path)
  except audio.AudioError as e:
    return e


def build(data: DataConfig, with_audio=True):
  """Builds the dataset if it is not on disk yet; returns the builder."""
  builder_class, download_config = SpotipopCatalog, None
  if data.build_runner == 'beam':
    try:
      from spotipop.data import beam_catalog  # pylint: disable=g-import-not-at-top
    except ImportError as e:  # An optional extra.
      raise errors.SpotipopError(
          f"--build_runner=beam needs Apache Beam ({e}): pip install -e "
          "'.[beam]'") from None
    builder_class = beam_catalog.BeamCatalog
    download_config = tfds.download.DownloadConfig(
        beam_options=beam_catalog.pipeline_options_from(
            data.beam_pipeline_options))
  builder = builder_class(config=builder_config(data, with_audio),
                          data_dir=os.path.expanduser(data.data_dir),
                          file_format='array_record')
  # A build killed part-way leaves its incomplete.* folder behind for good.
  for leftover in glob.glob(os.path.join(os.path.dirname(builder.data_dir),
                                         'incomplete.*')):
    logging.warning('Removing %s, left by a build that did not finish',
                    leftover)
    shutil.rmtree(leftover, ignore_errors=True)
  spill.install()
  builder.download_and_prepare(download_config=download_config)
  return builder


def load(data_dir):
  """Reads a built dataset from its folder (as recorded in a workdir)."""
  return tfds.builder_from_directory(data_dir)
