"""Experiment configuration as data: frozen dataclasses, one absl flag per field.

Every field of DataConfig, ModelConfig, TrainConfig and EvalConfig is a flag
of the same name, so an experiment is a flagfile (experiments/*.flags) and the
resolved Config is written as JSON into the workdir, from which evaluation and
prediction rebuild the exact same model and input.
"""

import dataclasses
import json
import typing

from absl import flags

from spotipop import errors

SPOTIFY_FEATURES = (
    'danceability', 'energy', 'key', 'loudness', 'mode', 'speechiness',
    'acousticness', 'instrumentalness', 'liveness', 'valence', 'tempo',
    'duration_ms', 'time_signature', 'explicit', 'release_year',
    'artist_followers', 'playlist_count')


def _field(default, help_text):
  if isinstance(default, (list, tuple)):
    return dataclasses.field(default_factory=lambda: tuple(default),
                             metadata={'help': help_text})
  return dataclasses.field(default=default, metadata={'help': help_text})


@dataclasses.dataclass(frozen=True)
class DataConfig:
  manifest: str = _field('', 'CSV manifest of the catalogue; empty uses the '
                         'embedded demo catalogue.')
  audio_dir: str = _field('', 'Folder that audio_path values are relative to; '
                          'empty means the manifest folder.')
  audio_outside_dir: bool = _field(
      False, 'Allow audio paths that leave --audio_dir (absolute paths '
      'elsewhere, ../); by default a manifest reads only under it.')
  data_dir: str = _field('~/tensorflow_datasets',
                         'Where the TFDS dataset is built and read.')
  build_runner: str = _field(
      'local', "How the dataset is built: 'local' (threads on this machine) "
      "or 'beam' (an Apache Beam pipeline; pip install -e '.[beam]'). The "
      'data is the same either way.')
  beam_pipeline_options: str = _field(
      '--runner=FnApiRunner --direct_running_mode=in_memory',
      'Beam pipeline options for --build_runner=beam, as one string, e.g. '
      "'--runner=DataflowRunner --project=P --region=R --temp_location=gs://B/t'"
      '; the default runs the pipeline in this process, the local mode that '
      'wrote every example of a 2.6 GB catalogue (benchmarks/README.md).')
  sample_rate: int = _field(16_000, 'Audio is resampled to this rate (Hz).')
  clip_seconds: float = _field(4.0, 'Clip length the model sees (seconds).')
  min_clip_seconds: float = _field(
      2.0, 'Shorter audio is skipped and counted in the build report.')
  max_skip_fraction: float = _field(
      0.05, 'The build fails when more than this fraction of tracks have '
      'unusable audio (each skipped file is listed with its reason).')
  popularity_threshold: float = _field(
      50.0, 'A track is popular (label 1) if popularity >= this.')
  id_column: str = _field(
      'track_id', "Manifest column of unique track ids; '' numbers tracks by "
      'their manifest line.')
  audio_column: str = _field(
      'audio_path', 'Manifest column of audio file paths (not read when '
      '--towers=tabular_only).')
  popularity_column: str = _field(
      'popularity', 'Manifest column of popularity: 0-100, or a count '
      '(listens, plays, a chart rank) with --popularity_from.')
  popularity_from: str = _field(
      'score', "How --popularity_column becomes the 0-100 popularity: 'score' "
      "(it is one), 'percentile' (a count's percentile among the train "
      "tracks) or 'log_scale' (log(1 + count) between the train split's 1st "
      'and 99th percentiles); fitted on the train split only.')
  popularity_within_year: bool = _field(
      False, 'Fit --popularity_from within each release year (counts grow '
      'with age); years with under 10 train tracks use the whole split.')
  popularity_lower_is_better: bool = _field(
      False, 'The count is a rank where 1 is best (a chart position).')
  genre_column: str = _field(
      'genre', "Manifest column of genre; list text such as \"['pop', "
      "'dance pop']\" takes its first entry; '' means no genre.")
  release_column: str = _field(
      'release_year', "Manifest column of release dates (YYYY, YYYY-MM or "
      "YYYY-MM-DD); '' means none (no time split). The feature column "
      "'release_year' is derived from it when the manifest has no such column.")
  group_column: str = _field(
      '', "Manifest column that groups tracks (e.g. artist) for --split=group.")
  duplicates: str = _field(
      'error', "A repeated track id is 'error', or 'keep_first' (later rows "
      'are dropped and listed in the build report).')
  split: str = _field('random', "'random', 'time' (newest releases held out) "
                      "or 'group' (no --group_column value on two sides).")
  split_fractions: tuple[float, ...] = _field(
      (0.7, 0.15, 0.15), 'Train, validation, test fractions.')
  split_seed: int = _field(0, 'Seed of the random split.')
  feature_columns: tuple[str, ...] = _field(
      SPOTIFY_FEATURES, 'Manifest columns fed to the tabular tower.')
  feature_transform: str = _field(
      'zscore', "How feature columns are scaled, fitted on the train split: "
      "'zscore' (mean and std) or 'quantile' (empirical CDF mapped to a "
      'standard normal: heavy tails and spikes such as instrumentalness 0 '
      'stop dominating a dense layer).')
  log1p_columns: tuple[str, ...] = _field(
      ('duration_ms', 'artist_followers', 'playlist_count'),
      'Heavy-tailed feature columns taken through log1p before scaling.')
  descriptors: str = _field(
      'none', "'audio' adds descriptors computed from each track's audio "
      '(tempo, key, loudness, spectral shape, MFCCs: docs/descriptors.md) to '
      'the tabular features, beside --feature_columns or alone '
      "(--feature_columns=); 'none' adds nothing.")
  descriptor_seconds: float = _field(
      30.0, 'Seconds at the centre of each track that --descriptors=audio '
      'describes (the whole track when it is shorter).')


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  towers: str = _field('two_tower',
                       "'two_tower', 'audio_only' or 'tabular_only'.")
  n_fft: int = _field(512, 'STFT window length (samples).')
  hop_length: int = _field(256, 'STFT hop (samples).')
  n_mels: int = _field(64, 'Mel bands; 0 feeds the linear log-magnitude STFT.')
  conv_channels: tuple[int, ...] = _field(
      (16, 32, 64, 128), 'Channels of the conv tower blocks; each under 8 or a '
      'multiple of 8 (GroupNorm groups).')
  dense_features: tuple[int, ...] = _field((64, 64),
                                           'Widths of the tabular tower.')
  genre_embedding: int = _field(
      8, 'Genre embedding width in the tabular tower; 0 leaves genre out.')
  fusion_features: int = _field(64, 'Width of the fused head.')
  dropout: float = _field(0.2, 'Dropout rate in the towers and head.')
  dtype: str = _field(
      'float32', "Compute type of the conv tower's activations: 'float32' or "
      "'bfloat16' (for GPU/TPU; parameters, the spectrogram and the loss stay "
      'float32).')
  kernels: str = _field(
      'auto', "The conv tower's kernels: 'xla' (the plain flax layers), "
      "'fused' (spotipop/model/kernels/: same values and gradients, faster on "
      "CPU) or 'auto' (fused where benchmarks/train_step.py measured them "
      "faster, XLA's elsewhere). Same parameters either way.")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  batch_size: int = _field(32, 'Global batch size, split over all devices.')
  num_epochs: int = _field(30, 'Maximum number of epochs.')
  learning_rate: float = _field(3e-3, 'Peak AdamW learning rate.')
  warmup_epochs: float = _field(2.0, 'Linear warm-up before cosine decay.')
  weight_decay: float = _field(1e-4, 'AdamW weight decay.')
  grad_clip_norm: float = _field(1.0, 'Global gradient norm clip.')
  seed: int = _field(0, 'Seed of initialisation, shuffling and dropout.')
  class_weighting: bool = _field(
      True, 'Weight positives by n_negative / n_positive of the train split.')
  regression_weight: float = _field(
      0.5, 'Weight of the popularity-score regression loss.')
  selection_metric: str = _field(
      'roc_auc', "Validation metric that picks the best checkpoint and drives "
      "early stopping: 'roc_auc', 'average_precision' or 'mcc' (the class "
      'prior cannot score well on these).')
  early_stopping_patience: int = _field(
      8, 'Stop after this many epochs without a better --selection_metric.')
  keep_checkpoints: int = _field(2, 'Latest checkpoints kept for resuming.')
  checkpoint_every_steps: int = _field(
      0, 'Also checkpoint every N steps within an epoch (0: epoch ends only).')
  log_every_steps: int = _field(10, 'Training progress log interval.')


@dataclasses.dataclass(frozen=True)
class EvalConfig:
  threshold_criterion: str = _field(
      'mcc', "The popular/not decision threshold maximises this on the "
      "validation split: 'mcc', 'balanced_accuracy' or 'f1'.")
  bootstrap: int = _field(
      1000, 'Bootstrap resamples of the evaluated split behind every '
      "metric's 95% interval and the model-vs-baseline comparisons; with "
      '--split=group whole groups are resampled. 0 turns them off.')
  bootstrap_seed: int = _field(0, 'Seed of the bootstrap resamples.')


@dataclasses.dataclass(frozen=True)
class Config:
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
  eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)

  @property
  def uses_audio(self):
    """Whether the model reads audio; without it no clip is stored."""
    return self.model.towers != 'tabular_only'

  @property
  def decodes_audio(self):
    """Whether the build decodes audio: for clips, or for descriptors."""
    return self.uses_audio or self.data.descriptors == 'audio'

  def to_json(self):
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @classmethod
  def from_json(cls, text):
    """The Config of a config.json; fields it predates take their defaults."""
    raw = json.loads(text)
    return cls(**{f.name: _from_dict(f.type, raw.get(f.name, {}))
                  for f in dataclasses.fields(cls)})

  def differences(self, other):
    """'--flag: ours != theirs' for every field that changes the model."""
    return [f'--{f.name}: {getattr(getattr(self, s), f.name)!r} != '
            f'{getattr(getattr(other, s), f.name)!r}'
            for s in SECTIONS
            for f in dataclasses.fields(getattr(self, s))
            if f.name not in BUILD_PLACE_FIELDS + TRAINING_NEUTRAL_FIELDS
            and getattr(getattr(self, s), f.name) !=
            getattr(getattr(other, s), f.name)]

  def validate(self):
    """Raises errors.FlagError naming the flag for settings that cannot work.

    Every numeric flag is checked against its range first, so a bad value is
    named itself rather than by a flag whose check it upsets.
    """
    d, m, t = self.data, self.model, self.train
    ranges = (
        (SAMPLE_RATE_RANGE[0] <= d.sample_rate <= SAMPLE_RATE_RANGE[1],
         'sample_rate', f'must be in [{SAMPLE_RATE_RANGE[0]}, '
         f'{SAMPLE_RATE_RANGE[1]}] Hz'),
        (d.clip_seconds > 0, 'clip_seconds', 'must be positive'),
        (0 <= d.popularity_threshold <= 100, 'popularity_threshold',
         'must be in [0, 100]'),
        (m.n_fft >= 2, 'n_fft', 'must be at least 2'),
        (m.n_mels >= 0, 'n_mels', 'must be 0 (linear STFT) or more'),
        (all(w > 0 for w in m.dense_features), 'dense_features',
         'must be positive widths'),
        (m.genre_embedding >= 0, 'genre_embedding', 'must be 0 (none) or more'),
        (m.fusion_features > 0, 'fusion_features', 'must be positive'),
        (0 <= m.dropout < 1, 'dropout', 'must be in [0, 1)'),
        (t.warmup_epochs >= 0, 'warmup_epochs', 'must be 0 or more'),
        (t.weight_decay >= 0, 'weight_decay', 'must be 0 or more'),
        (t.grad_clip_norm > 0, 'grad_clip_norm', 'must be positive'),
        (t.regression_weight >= 0, 'regression_weight', 'must be 0 or more'),
        (t.early_stopping_patience >= 1, 'early_stopping_patience',
         'must be at least 1'),
        (t.keep_checkpoints >= 1, 'keep_checkpoints', 'must be at least 1 '
         '(a run keeps its latest step to resume from)'),
        (t.checkpoint_every_steps >= 0, 'checkpoint_every_steps',
         'must be 0 (epoch ends only) or more'),
        (t.log_every_steps >= 1, 'log_every_steps', 'must be at least 1'),
    )
    for ok, flag, why in ranges:
      if not ok:
        raise errors.FlagError(f'--{flag} {why}')
    check_bootstrap(self.eval.bootstrap)
    checks = (
        (self.data.build_runner in ('local', 'beam'), 'build_runner',
         "must be 'local' or 'beam'"),
        (self.data.split in ('random', 'time', 'group'), 'split',
         "must be 'random', 'time' or 'group'"),
        (self.data.split != 'group' or self.data.group_column, 'group_column',
         'must name a manifest column for --split=group'),
        (self.data.split != 'time' or self.data.release_column,
         'release_column', 'must name a manifest column for --split=time'),
        (self.data.duplicates in ('error', 'keep_first'), 'duplicates',
         "must be 'error' or 'keep_first'"),
        (bool(self.data.popularity_column), 'popularity_column',
         'must name a manifest column'),
        (len(self.data.split_fractions) == 3
         and abs(sum(self.data.split_fractions) - 1) < 1e-6
         and min(self.data.split_fractions) > 0, 'split_fractions',
         'must be three positive numbers summing to 1'),
        (0 <= self.data.max_skip_fraction <= 1, 'max_skip_fraction',
         'must be in [0, 1]'),
        (self.data.clip_seconds >= self.data.min_clip_seconds > 0,
         'min_clip_seconds', 'must be in (0, clip_seconds]'),
        (self.data.feature_transform in ('zscore', 'quantile'),
         'feature_transform', "must be 'zscore' or 'quantile'"),
        (set(self.data.log1p_columns) <= set(self.data.feature_columns),
         'log1p_columns', 'must be a subset of feature_columns'),
        (self.data.popularity_from in ('score', 'percentile', 'log_scale'),
         'popularity_from', "must be 'score', 'percentile' or 'log_scale'"),
        (not self.data.popularity_within_year or self.data.release_column,
         'popularity_within_year', 'needs --release_column'),
        (not self.data.popularity_lower_is_better
         or self.data.popularity_from == 'percentile',
         'popularity_lower_is_better', 'needs --popularity_from=percentile'),
        (self.data.descriptors in ('none', 'audio'), 'descriptors',
         "must be 'none' or 'audio'"),
        (self.data.descriptors == 'none' or self.model.towers != 'audio_only',
         'descriptors=audio', 'needs the tabular tower: --towers=two_tower '
         'or tabular_only'),
        (self.data.descriptor_seconds >= 1, 'descriptor_seconds',
         'must be at least 1'),
        (self.model.towers in ('two_tower', 'audio_only', 'tabular_only'),
         'towers', "must be 'two_tower', 'audio_only' or 'tabular_only'"),
        (self.model.dtype in DTYPES, 'dtype', f'must be one of {DTYPES}'),
        (self.model.kernels in KERNELS, 'kernels',
         f'must be one of {KERNELS}'),
        (self.model.towers == 'tabular_only' or (
            self.model.conv_channels and all(
                c > 0 and (c < 8 or c % 8 == 0)
                for c in self.model.conv_channels)), 'conv_channels',
         'must be one or more channel counts, each under 8 or a multiple of '
         "8 (a layer's GroupNorm takes min(8, channels) groups)"),
        (self.model.hop_length > 0 and self.model.n_fft >= self.model.hop_length,
         'hop_length', 'must be in (0, n_fft]'),
        (self.model.n_fft <= self.data.clip_seconds * self.data.sample_rate,
         'n_fft', 'must not exceed the clip length in samples'),
        (self.train.selection_metric in SELECTION_METRICS, 'selection_metric',
         f'must be one of {SELECTION_METRICS}'),
        (self.eval.threshold_criterion in THRESHOLD_CRITERIA,
         'threshold_criterion', f'must be one of {THRESHOLD_CRITERIA}'),
        (self.train.batch_size > 0, 'batch_size', 'must be positive'),
        (self.train.learning_rate > 0, 'learning_rate', 'must be positive'),
        (self.train.num_epochs > 0, 'num_epochs', 'must be positive'),
    )
    for ok, flag, why in checks:
      if not ok:
        raise errors.FlagError(f'--{flag} {why}')
    return self


SAMPLE_RATE_RANGE = (1000, 384_000)  # Hz; decode refuses files outside it.
# Under MIN_BOOTSTRAP resamples the tails of a 95% interval are a few draws
# each (at 2, it excluded its own point estimate); past MAX_BOOTSTRAP the
# resamples cost minutes for an interval no narrower (memory stays one block
# of them: evaluation/uncertainty.py).
MIN_BOOTSTRAP, MAX_BOOTSTRAP = 100, 100_000


def check_bootstrap(resamples, flag='bootstrap'):
  """Raises errors.FlagError unless resamples is 0 (off) or in range."""
  if resamples != 0 and not MIN_BOOTSTRAP <= resamples <= MAX_BOOTSTRAP:
    raise errors.FlagError(
        f'--{flag} must be 0 (off) or in [{MIN_BOOTSTRAP}, {MAX_BOOTSTRAP}] '
        f'resamples, not {resamples}')


# Where and how the dataset is built, and which audio folders it may read:
# the same data either way.
BUILD_PLACE_FIELDS = ('data_dir', 'build_runner', 'beam_pipeline_options',
                      'audio_outside_dir')
# How fast a model is computed, or how its report is resampled: neither
# changes the trained model, so a run may resume under another value.
TRAINING_NEUTRAL_FIELDS = ('kernels', 'bootstrap', 'bootstrap_seed')
SECTIONS = {'data': DataConfig, 'model': ModelConfig, 'train': TrainConfig,
            'eval': EvalConfig}
SELECTION_METRICS = ('roc_auc', 'average_precision', 'mcc')
THRESHOLD_CRITERIA = ('mcc', 'balanced_accuracy', 'f1')
DTYPES = ('float32', 'bfloat16')
KERNELS = ('auto', 'xla', 'fused')


def _from_dict(cls, raw):
  names = {f.name for f in dataclasses.fields(cls)}
  return cls(**{name: tuple(value) if isinstance(value, list) else value
                for name, value in raw.items() if name in names})


def _element_type(field_type):
  return typing.get_args(field_type)[0]


_DEFINE = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer,
           float: flags.DEFINE_float, str: flags.DEFINE_string}


def define_flags(flag_values=flags.FLAGS):
  """Defines one absl flag per config field (idempotent)."""
  for section in SECTIONS.values():
    for f in dataclasses.fields(section):
      if f.name in flag_values:
        continue
      default = (f.default_factory() if f.default is dataclasses.MISSING
                 else f.default)
      define = _DEFINE.get(f.type, flags.DEFINE_list)
      if define is flags.DEFINE_list:
        default = [str(v) for v in default]
      define(f.name, default, f.metadata['help'], flag_values=flag_values)


def from_flagfile(path, *overrides):
  """The Config of a flagfile, later flags overriding it, parsed as the CLI does.

  An unknown or invalid flag raises; --workdir, which every flagfile may set,
  is accepted and left out.
  """
  flag_values = flags.FlagValues()
  define_flags(flag_values)
  flags.DEFINE_string('workdir', None, 'Run directory.', flag_values=flag_values)
  flag_values(['spotipop', f'--flagfile={path}', *overrides])
  return from_flags(flag_values)


def from_flags(flag_values=flags.FLAGS):
  """Builds a validated Config from parsed flags."""
  sections = {}
  for name, section in SECTIONS.items():
    kwargs = {}
    for f in dataclasses.fields(section):
      value = flag_values[f.name].value
      if isinstance(value, list):
        element = _element_type(f.type)
        try:
          value = tuple(element(v) for v in value)
        except ValueError:
          raise errors.FlagError(f'--{f.name}: every item must be '
                           f'{element.__name__}, got {value}') from None
      kwargs[f.name] = value
    sections[name] = section(**kwargs)
  return Config(**sections).validate()
