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


@pytest.mark.parametrize('argv,flag', [
    (['--split=sideways'], 'split'),
    (['--split=group'], 'group_column'),
    (['--split_fractions=0.5,0.5,0.5'], 'split_fractions'),
    (['--kernels=fast'], 'kernels'),
    (['--conv_channels=12'], 'conv_channels'),
    (['--n_fft=512', '--hop_length=1024'], 'hop_length'),
    (['--selection_metric=f1'], 'selection_metric'),
    (['--batch_size=0'], 'batch_size'),
    (['--log1p_columns=nope'], 'log1p_columns'),
    (['--descriptors=spotify'], 'descriptors'),
    (['--sample_rate=0'], 'sample_rate'),
    (['--sample_rate=500000'], 'sample_rate'),
    (['--clip_seconds=0'], 'clip_seconds'),
    (['--popularity_threshold=101'], 'popularity_threshold'),
    (['--popularity_from=percentile', '--popularity_threshold=-1'],
     'popularity_threshold'),
    (['--n_fft=0'], 'n_fft'),
    (['--n_mels=-1'], 'n_mels'),
    (['--dense_features=16,0'], 'dense_features'),
    (['--genre_embedding=-1'], 'genre_embedding'),
    (['--fusion_features=0'], 'fusion_features'),
    (['--dropout=1.5'], 'dropout'),
    (['--dropout=1'], 'dropout'),
    (['--dropout=-0.1'], 'dropout'),
    (['--warmup_epochs=-1'], 'warmup_epochs'),
    (['--weight_decay=-1e-4'], 'weight_decay'),
    (['--grad_clip_norm=0'], 'grad_clip_norm'),
    (['--regression_weight=-0.5'], 'regression_weight'),
    (['--early_stopping_patience=0'], 'early_stopping_patience'),
    (['--keep_checkpoints=0'], 'keep_checkpoints'),
    (['--checkpoint_every_steps=-1'], 'checkpoint_every_steps'),
    (['--log_every_steps=0'], 'log_every_steps'),
    (['--bootstrap=1'], 'bootstrap'),
    (['--bootstrap=99'], 'bootstrap'),
    (['--bootstrap=100001'], 'bootstrap'),
    (['--popularity_from=rank'], 'popularity_from'),
    (['--popularity_within_year', '--release_column='],
     'popularity_within_year'),
    (['--popularity_lower_is_better'], 'popularity_lower_is_better'),
    (['--descriptors=audio', '--towers=audio_only'], 'descriptors'),
    (['--descriptor_seconds=0.5'], 'descriptor_seconds'),
])
def test_invalid_settings_name_their_flag(argv, flag):
  with pytest.raises(errors.FlagError, match=f'^--{flag} '):
    _parse(*argv)


@pytest.mark.parametrize('argv', [
    ['--bootstrap=0'], ['--bootstrap=100'], ['--bootstrap=100000'],
    ['--dropout=0'], ['--sample_rate=1000'], ['--sample_rate=384000'],
    ['--popularity_threshold=100'], ['--popularity_threshold=0'],
    ['--keep_checkpoints=1'], ['--log_every_steps=1']])
def test_each_range_admits_its_edges(argv):
  _parse(*argv)


def test_a_list_item_of_the_wrong_type_names_the_flag():
  with pytest.raises(errors.FlagError, match='--conv_channels: every item'):
    _parse('--conv_channels=8,wide')


def test_flagfile_overrides_apply_in_order():
  config = config_lib.from_flagfile(f'{REPO}/experiments/default.flags',
                                    '--num_epochs=3')
  assert config.train.num_epochs == 3
