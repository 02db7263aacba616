"""Config: flags to a validated Config, JSON round trips, and what differs."""

import dataclasses
import json

from absl import flags
import pytest

from conftest import REPO
from spotipop import config as config_lib
from spotipop import errors


def _parse(*argv):
  flag_values = flags.FlagValues()
  config_lib.define_flags(flag_values)
  flag_values(['spotipop', *argv])
  return config_lib.from_flags(flag_values)


def test_every_field_is_a_flag_and_parses_back():
  config = _parse('--batch_size=64', '--conv_channels=8,16',
                  '--split_fractions=0.8,0.1,0.1', '--noclass_weighting',
                  '--kernels=xla')
  assert config.train.batch_size == 64
  assert config.model.conv_channels == (8, 16)
  assert config.data.split_fractions == (0.8, 0.1, 0.1)
  assert config.train.class_weighting is False
  assert config.model.kernels == 'xla'


def test_json_round_trip_keeps_every_field():
  config = _parse('--learning_rate=0.01', '--feature_columns=energy,tempo',
                  '--log1p_columns=tempo',
                  '--split=time')
  assert config_lib.Config.from_json(config.to_json()) == config


def test_a_config_written_before_a_field_existed_loads_with_its_default():
  config = config_lib.Config(train=config_lib.TrainConfig(learning_rate=0.5))
  raw = json.loads(config.to_json())
  del raw['data']['max_skip_fraction']
  del raw['model']['kernels']
  del raw['eval']  # A whole section added later.
  loaded = config_lib.Config.from_json(json.dumps(raw))
  assert loaded == config
  assert loaded.train.learning_rate == 0.5


def test_differences_name_result_fields_but_not_place_or_speed():
  base = config_lib.Config()
  other = dataclasses.replace(
      base, train=dataclasses.replace(base.train, learning_rate=0.1),
      model=dataclasses.replace(base.model, kernels='xla'),
      data=dataclasses.replace(base.data, data_dir='/elsewhere'))
  assert base.differences(other) == ['--learning_rate: 0.003 != 0.1']


# Every refusal as the user reads it: the whole line, written out here (the
# flag's documented range or choices), not taken from the code under test.
REFUSED = [
    (['--sample_rate=999'], '--sample_rate must be in [1000, 384000] Hz'),
    (['--sample_rate=384001'], '--sample_rate must be in [1000, 384000] Hz'),
    (['--clip_seconds=0'], '--clip_seconds must be positive'),
    (['--popularity_threshold=100.5'],
     '--popularity_threshold must be in [0, 100]'),
    (['--popularity_from=percentile', '--popularity_threshold=-1'],
     '--popularity_threshold must be in [0, 100]'),
    (['--n_fft=1', '--hop_length=1'], '--n_fft must be at least 2'),
    (['--n_fft=0'], '--n_fft must be at least 2'),  # Before hop_length's.
    (['--n_mels=-1'], '--n_mels must be 0 (linear STFT) or more'),
    (['--dense_features=16,0'], '--dense_features must be positive widths'),
    (['--genre_embedding=-1'], '--genre_embedding must be 0 (none) or more'),
    (['--fusion_features=0'], '--fusion_features must be positive'),
    (['--dropout=1'], '--dropout must be in [0, 1)'),
    (['--dropout=-0.1'], '--dropout must be in [0, 1)'),
    (['--warmup_epochs=-1'], '--warmup_epochs must be 0 or more'),
    (['--weight_decay=-1e-4'], '--weight_decay must be 0 or more'),
    (['--grad_clip_norm=0'], '--grad_clip_norm must be positive'),
    (['--regression_weight=-0.5'], '--regression_weight must be 0 or more'),
    (['--early_stopping_patience=0'],
     '--early_stopping_patience must be at least 1'),
    (['--keep_checkpoints=0'], '--keep_checkpoints must be at least 1 (a run '
     'keeps its latest step to resume from)'),
    (['--checkpoint_every_steps=-1'],
     '--checkpoint_every_steps must be 0 (epoch ends only) or more'),
    (['--log_every_steps=0'], '--log_every_steps must be at least 1'),
    (['--bootstrap=1'],
     '--bootstrap must be 0 (off) or in [100, 100000] resamples, not 1'),
    (['--bootstrap=99'],
     '--bootstrap must be 0 (off) or in [100, 100000] resamples, not 99'),
    (['--bootstrap=100001'],
     '--bootstrap must be 0 (off) or in [100, 100000] resamples, not 100001'),
    (['--build_runner=spark'], "--build_runner must be 'local' or 'beam'"),
    (['--split=sideways'], "--split must be 'random', 'time' or 'group'"),
    (['--split=group'],
     '--group_column must name a manifest column for --split=group'),
    (['--split=time', '--release_column='],
     '--release_column must name a manifest column for --split=time'),
    (['--duplicates=keep_last'], "--duplicates must be 'error' or "
     "'keep_first'"),
    (['--popularity_column='], '--popularity_column must name a manifest '
     'column'),
    (['--split_fractions=0.5,0.5,0.5'],
     '--split_fractions must be three positive numbers summing to 1'),
    (['--split_fractions=0.5,0.5'],
     '--split_fractions must be three positive numbers summing to 1'),
    (['--split_fractions=1,0,0'],
     '--split_fractions must be three positive numbers summing to 1'),
    (['--split_fractions=0.7,0.15,0.1500011'],
     '--split_fractions must be three positive numbers summing to 1'),
    (['--max_skip_fraction=1.01'], '--max_skip_fraction must be in [0, 1]'),
    (['--max_skip_fraction=-0.01'], '--max_skip_fraction must be in [0, 1]'),
    (['--min_clip_seconds=4.5'],
     '--min_clip_seconds must be in (0, clip_seconds]'),
    (['--min_clip_seconds=0'],
     '--min_clip_seconds must be in (0, clip_seconds]'),
    (['--feature_transform=rank'],
     "--feature_transform must be 'zscore' or 'quantile'"),
    (['--log1p_columns=nope'],
     '--log1p_columns must be a subset of feature_columns'),
    (['--popularity_from=rank'],
     "--popularity_from must be 'score', 'percentile' or 'log_scale'"),
    (['--popularity_within_year', '--release_column='],
     '--popularity_within_year needs --release_column'),
    (['--popularity_lower_is_better'],
     '--popularity_lower_is_better needs --popularity_from=percentile'),
    (['--descriptors=spotify'], "--descriptors must be 'none' or 'audio'"),
    (['--descriptors=audio', '--towers=audio_only'],
     '--descriptors=audio needs the tabular tower: --towers=two_tower or '
     'tabular_only'),
    (['--descriptor_seconds=0.99'], '--descriptor_seconds must be at least 1'),
    (['--towers=three_tower'],
     "--towers must be 'two_tower', 'audio_only' or 'tabular_only'"),
    (['--dtype=float16'], "--dtype must be one of ('float32', 'bfloat16')"),
    (['--kernels=fast'], "--kernels must be one of ('auto', 'xla', 'fused')"),
    *[([f'--conv_channels={channels}'], '--conv_channels must be one or '
       'more channel counts, each under 8 or a multiple of 8 (a layer\'s '
       'GroupNorm takes min(8, channels) groups)')
      for channels in ('12', '8,0', '', '16,-8')],
    (['--hop_length=0'], '--hop_length must be in (0, n_fft]'),
    (['--n_fft=512', '--hop_length=513'], '--hop_length must be in (0, n_fft]'),
    (['--sample_rate=1000', '--clip_seconds=2', '--min_clip_seconds=1',
      '--n_fft=2001', '--hop_length=500'],
     '--n_fft must not exceed the clip length in samples'),
    (['--selection_metric=f1'], "--selection_metric must be one of "
     "('roc_auc', 'average_precision', 'mcc')"),
    (['--threshold_criterion=accuracy'], "--threshold_criterion must be one "
     "of ('mcc', 'balanced_accuracy', 'f1')"),
    (['--batch_size=0'], '--batch_size must be positive'),
    (['--learning_rate=0'], '--learning_rate must be positive'),
    (['--num_epochs=0'], '--num_epochs must be positive'),
]


@pytest.mark.parametrize('argv,message', REFUSED)
def test_invalid_settings_are_refused_in_one_line_naming_their_flag(argv,
                                                                    message):
  with pytest.raises(errors.FlagError) as refused:
    _parse(*argv)
  assert str(refused.value) == message


# Each range's edges and every documented choice are accepted.
ACCEPTED = [
    ['--bootstrap=0'], ['--bootstrap=100'], ['--bootstrap=100000'],
    ['--sample_rate=1000'], ['--sample_rate=384000'],
    ['--clip_seconds=0.5', '--min_clip_seconds=0.5'],
    ['--min_clip_seconds=4'], ['--min_clip_seconds=0.01'],
    ['--popularity_threshold=100'], ['--popularity_threshold=0'],
    ['--n_fft=2', '--hop_length=1'], ['--n_fft=512', '--hop_length=512'],
    ['--sample_rate=1000', '--clip_seconds=2', '--min_clip_seconds=1',
     '--n_fft=2000', '--hop_length=500'],
    ['--n_mels=0'], ['--dense_features=1'], ['--genre_embedding=0'],
    ['--fusion_features=1'], ['--dropout=0'], ['--dropout=0.999'],
    ['--warmup_epochs=0'], ['--weight_decay=0'], ['--grad_clip_norm=1e-9'],
    ['--regression_weight=0'], ['--early_stopping_patience=1'],
    ['--keep_checkpoints=1'], ['--checkpoint_every_steps=0'],
    ['--log_every_steps=1'], ['--batch_size=1'], ['--learning_rate=1e-9'],
    ['--num_epochs=1'],
    ['--build_runner=local'], ['--build_runner=beam'],
    ['--split=random'], ['--split=time'],
    ['--split=group', '--group_column=artist'],
    ['--duplicates=error'], ['--duplicates=keep_first'],
    ['--split_fractions=0.98,0.01,0.01'],
    ['--split_fractions=0.7,0.2,0.1'],  # Sums to 0.9999999999999999.
    ['--max_skip_fraction=0'], ['--max_skip_fraction=1'],
    ['--feature_transform=zscore'], ['--feature_transform=quantile'],
    ['--log1p_columns='], ['--feature_columns=tempo', '--log1p_columns=tempo'],
    ['--popularity_from=score'], ['--popularity_from=percentile'],
    ['--popularity_from=log_scale'],
    ['--popularity_within_year'],
    ['--popularity_from=percentile', '--popularity_lower_is_better'],
    ['--descriptors=none', '--towers=audio_only'],
    ['--descriptors=audio', '--towers=two_tower'],
    ['--descriptors=audio', '--towers=tabular_only'],
    ['--descriptors=audio', '--descriptor_seconds=1'],
    ['--towers=tabular_only', '--conv_channels='],
    ['--conv_channels=1,2,4,7,8,16,24'],
    ['--dtype=float32'], ['--dtype=bfloat16'],
    ['--kernels=auto'], ['--kernels=xla'], ['--kernels=fused'],
    ['--selection_metric=roc_auc'], ['--selection_metric=average_precision'],
    ['--selection_metric=mcc'],
    ['--threshold_criterion=mcc'], ['--threshold_criterion=balanced_accuracy'],
    ['--threshold_criterion=f1'],
]


@pytest.mark.parametrize('argv', ACCEPTED)
def test_each_range_admits_its_edges_and_every_choice(argv):
  _parse(*argv)


def test_a_list_item_of_the_wrong_type_names_the_flag():
  with pytest.raises(errors.FlagError, match='--conv_channels: every item'):
    _parse('--conv_channels=8,wide')


def test_flagfile_overrides_apply_in_order():
  config = config_lib.from_flagfile(f'{REPO}/experiments/default.flags',
                                    '--num_epochs=3')
  assert config.train.num_epochs == 3


def test_every_flag_carries_its_help_text():
  flag_values = flags.FlagValues()
  config_lib.define_flags(flag_values)
  for section in config_lib.SECTIONS.values():
    for f in dataclasses.fields(section):
      assert flag_values[f.name].help == f.metadata['help'] != ''
  assert flag_values['batch_size'].help == ('Global batch size, split over all '
                                           'devices.')


def test_defining_the_flags_again_defines_only_what_is_missing():
  """define_flags is idempotent: flags already defined (by an earlier call or
  by the caller) are left alone and every other field still gets its flag."""
  flag_values = flags.FlagValues()
  first = dataclasses.fields(config_lib.DataConfig)[0].name
  flags.DEFINE_string(first, 'mine', 'Defined by the caller.',
                      flag_values=flag_values)
  config_lib.define_flags(flag_values)
  config_lib.define_flags(flag_values)
  assert flag_values[first].default == 'mine'
  assert {f.name for s in config_lib.SECTIONS.values()
          for f in dataclasses.fields(s)} <= set(flag_values)
