"""Builds a catalogue's dataset and stops: the build ahead of training.

  python -m spotipop.build --flagfile=experiments/paper.flags \
      --manifest=/shared/catalogue.csv --data_dir=/shared/tfds \
      --build_runner=beam --beam_pipeline_options='--runner=DataflowRunner ...'

Training with the same data flags and --data_dir finds the dataset there and
builds nothing, so a multi-host run starts training at once on every host.
"""

from absl import flags

from spotipop import cli
from spotipop import config as config_lib
from spotipop.data import catalog
from spotipop.data import datasets

config_lib.define_flags()
# Experiment flagfiles set it; a build has no use for it.
flags.DEFINE_string('workdir', None, 'Ignored.')


def main(argv):
  del argv
  config = config_lib.from_flags()
  builder = datasets.build(config.data, config.uses_audio)
  report = builder.info.metadata['build_report']
  sizes = ', '.join(f'{name} {builder.info.splits[name].num_examples}'
                    for name in catalog.SPLITS)
  print(f'{builder.data_dir}\n{report["rows"]} rows: {sizes}; '
        f'{len(report["skipped"])} skipped, '
        f'{len(report["duplicates_dropped"])} duplicates dropped')


if __name__ == '__main__':
  cli.run(main, 'spotipop.build')
