"""Experiment configuration as data: frozen dataclasses, one absl flag per field.

Every field of DataConfig, ModelConfig and TrainConfig is a command-line flag
of the same name, so an experiment is a flagfile (experiments/*.flags) and the
resolved Config is written as JSON into the workdir, from which evaluation and
prediction rebuild the exact same model and input.
"""

import dataclasses
import json
import typing

from absl import flags

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
  data_dir: str = _field('~/tensorflow_datasets',
                         'Where the TFDS dataset is built and read.')
  sample_rate: int = _field(16_000, 'Audio is resampled to this rate (Hz).')
  clip_seconds: float = _field(4.0, 'Clip length the model sees (seconds).')
  min_clip_seconds: float = _field(
      2.0, 'Shorter audio is skipped and counted in the build report.')
  popularity_threshold: float = _field(
      50.0, 'A track is popular (label 1) if popularity >= this.')
  split: str = _field('random', "'random' or 'time' (newest years held out).")
  split_fractions: tuple[float, ...] = _field(
      (0.7, 0.15, 0.15), 'Train, validation, test fractions.')
  split_seed: int = _field(0, 'Seed of the random split.')
  feature_columns: tuple[str, ...] = _field(
      SPOTIFY_FEATURES, 'Manifest columns fed to the tabular tower.')
  log1p_columns: tuple[str, ...] = _field(
      ('duration_ms', 'artist_followers', 'playlist_count'),
      'Heavy-tailed feature columns taken through log1p before scaling.')


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  towers: str = _field('two_tower',
                       "'two_tower', 'audio_only' or 'tabular_only'.")
  n_fft: int = _field(512, 'STFT window length (samples).')
  hop_length: int = _field(256, 'STFT hop (samples).')
  n_mels: int = _field(64, 'Mel bands; 0 feeds the linear log-magnitude STFT.')
  conv_channels: tuple[int, ...] = _field((16, 32, 64, 128),
                                          'Channels of the conv tower blocks.')
  dense_features: tuple[int, ...] = _field((64, 64),
                                           'Widths of the tabular tower.')
  genre_embedding: int = _field(
      8, 'Genre embedding width in the tabular tower; 0 leaves genre out.')
  fusion_features: int = _field(64, 'Width of the fused head.')
  dropout: float = _field(0.2, 'Dropout rate in the towers and head.')


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
  early_stopping_patience: int = _field(
      8, 'Stop after this many epochs without a better validation F1.')
  keep_checkpoints: int = _field(2, 'Latest checkpoints kept for resuming.')
  checkpoint_every_steps: int = _field(
      0, 'Also checkpoint every N steps within an epoch (0: epoch ends only).')
  log_every_steps: int = _field(10, 'Training progress log interval.')


class ConfigMismatchError(ValueError):
  """A workdir trained under other settings; resuming it would mix two runs."""


@dataclasses.dataclass(frozen=True)
class Config:
  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

  def to_json(self):
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @classmethod
  def from_json(cls, text):
    raw = json.loads(text)
    return cls(**{f.name: _from_dict(f.type, raw[f.name])
                  for f in dataclasses.fields(cls)})

  def differences(self, other):
    """'--flag: ours != theirs' for every field that differs."""
    return [f'--{f.name}: {getattr(getattr(self, s), f.name)!r} != '
            f'{getattr(getattr(other, s), f.name)!r}'
            for s in ('data', 'model', 'train')
            for f in dataclasses.fields(getattr(self, s))
            if getattr(getattr(self, s), f.name) !=
            getattr(getattr(other, s), f.name)]

  def validate(self):
    """Raises ValueError naming the flag for settings that cannot work."""
    checks = (
        (self.data.split in ('random', 'time'), 'split',
         "must be 'random' or 'time'"),
        (len(self.data.split_fractions) == 3
         and abs(sum(self.data.split_fractions) - 1) < 1e-6
         and min(self.data.split_fractions) > 0, 'split_fractions',
         'must be three positive numbers summing to 1'),
        (self.data.clip_seconds >= self.data.min_clip_seconds > 0,
         'min_clip_seconds', 'must be in (0, clip_seconds]'),
        (set(self.data.log1p_columns) <= set(self.data.feature_columns),
         'log1p_columns', 'must be a subset of feature_columns'),
        (self.model.towers in ('two_tower', 'audio_only', 'tabular_only'),
         'towers', "must be 'two_tower', 'audio_only' or 'tabular_only'"),
        (self.model.hop_length > 0 and self.model.n_fft >= self.model.hop_length,
         'hop_length', 'must be in (0, n_fft]'),
        (self.model.n_fft <= self.data.clip_seconds * self.data.sample_rate,
         'n_fft', 'must not exceed the clip length in samples'),
        (self.train.batch_size > 0, 'batch_size', 'must be positive'),
        (self.train.num_epochs > 0, 'num_epochs', 'must be positive'),
    )
    for ok, flag, why in checks:
      if not ok:
        raise ValueError(f'--{flag} {why}')
    return self


def _from_dict(cls, raw):
  kwargs = {}
  for f in dataclasses.fields(cls):
    value = raw[f.name]
    kwargs[f.name] = tuple(value) if isinstance(value, list) else value
  return cls(**kwargs)


def _element_type(field_type):
  return typing.get_args(field_type)[0]


def define_flags():
  """Defines one absl flag per config field (idempotent)."""
  for section in (DataConfig, ModelConfig, TrainConfig):
    for f in dataclasses.fields(section):
      if f.name in flags.FLAGS:
        continue
      default = (f.default_factory() if f.default is dataclasses.MISSING
                 else f.default)
      help_text = f.metadata['help']
      if f.type is bool:
        flags.DEFINE_bool(f.name, default, help_text)
      elif f.type is int:
        flags.DEFINE_integer(f.name, default, help_text)
      elif f.type is float:
        flags.DEFINE_float(f.name, default, help_text)
      elif f.type is str:
        flags.DEFINE_string(f.name, default, help_text)
      else:
        flags.DEFINE_list(f.name, [str(v) for v in default], help_text)


def from_flags(flag_values=flags.FLAGS):
  """Builds a validated Config from parsed flags."""
  sections = {}
  for name, section in (('data', DataConfig), ('model', ModelConfig),
                        ('train', TrainConfig)):
    kwargs = {}
    for f in dataclasses.fields(section):
      value = flag_values[f.name].value
      if isinstance(value, list):
        element = _element_type(f.type)
        try:
          value = tuple(element(v) for v in value)
        except ValueError:
          raise ValueError(f'--{f.name}: every item must be '
                           f'{element.__name__}, got {value}') from None
      kwargs[f.name] = value
    sections[name] = section(**kwargs)
  return Config(**sections).validate()
