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
    (['--descriptors=audio', '--towers=audio_only'], 'descriptors'),
    (['--descriptor_seconds=0.5'], 'descriptor_seconds'),
])
def test_invalid_settings_name_their_flag(argv, flag):
  with pytest.raises(errors.FlagError, match=f'^--{flag} '):
    _parse(*argv)


def test_a_list_item_of_the_wrong_type_names_the_flag():
  with pytest.raises(errors.FlagError, match='--conv_channels: every item'):
    _parse('--conv_channels=8,wide')


def test_flagfile_overrides_apply_in_order():
  config = config_lib.from_flagfile(f'{REPO}/experiments/default.flags',
                                    '--num_epochs=3')
  assert config.train.num_epochs == 3
