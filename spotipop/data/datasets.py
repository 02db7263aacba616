"""Builds a catalogue's dataset (locally or on Beam) and loads a built one.

The one place that picks the builder: catalog.py (threads on this machine)
or beam_catalog.py (Apache Beam pipelines), which extends it.
"""

import glob
import os
import shutil

from absl import logging
import tensorflow_datasets as tfds

from spotipop import errors
from spotipop.config import DataConfig
from spotipop.data import catalog
from spotipop.data import pipeline
from spotipop.data import spill
from spotipop.storage import atomic_files
from spotipop.storage import locks


def build(data: DataConfig, with_audio=True):
  """Builds the dataset if it is not on disk yet; returns the builder."""
  builder_class, download_config = catalog.SpotipopCatalog, None
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
  data_dir = os.path.expanduser(data.data_dir)
  atomic_files.check_writable_folder(data_dir, '--data_dir')
  # A second build of the folder waits for the first, then finds it built:
  # the builder is made under the lock so that it reads what the first wrote.
  with locks.held(os.path.join(data_dir, '.spotipop-build.lock'),
                  f'--data_dir={data_dir}', wait=True):
    builder = builder_class(config=catalog.builder_config(data, with_audio),
                            data_dir=data_dir, file_format='array_record')
    # A build killed part-way leaves its incomplete.* folder behind for good.
    for leftover in glob.glob(os.path.join(os.path.dirname(builder.data_dir),
                                           'incomplete.*')):
      logging.warning('Removing %s, left by a build that did not finish',
                      leftover)
      shutil.rmtree(leftover, ignore_errors=True)
    spill.install()
    # TFDS writes some files where a full disk names none of them.
    with atomic_files.naming(os.path.dirname(builder.data_dir)):
      builder.download_and_prepare(download_config=download_config)
  return builder


def read_tabular(builder, split):
  """A split's transformed features, genre ids, labels, popularity and ids.

  Audio, when stored, is read as undecoded bytes and dropped.
  """
  decoders = ({'audio': tfds.decode.SkipDecoding()}
              if 'audio' in builder.info.features else None)
  return pipeline.read_split(builder.as_data_source(split, decoders=decoders),
                             builder.info.metadata, with_audio=False)


def load(data_dir):
  """Reads a built dataset from its folder (as recorded in a workdir)."""
  return tfds.builder_from_directory(data_dir)
