"""Compares predictors of different runs on the same test tracks.

  python -m spotipop.compare runs/descriptors:gbdt runs/default:gbdt \\
      runs/descriptors:model

Each argument is a finished run and one of its predictors (model: the
network; gbdt: its LightGBM baseline). The runs must hold out the same test
tracks (the same catalogue, split and --split_seed). Prints each predictor's
threshold-free metrics with 95% intervals, and the first one minus each
other on the same resamples, with a verdict.
"""

from absl import flags

from spotipop import cli
from spotipop import config as config_lib
from spotipop import errors
from spotipop.evaluation import run_comparison

flags.DEFINE_integer('bootstrap', 1000, 'Resamples behind the intervals.')
flags.DEFINE_integer('bootstrap_seed', 0, 'Seed of the resamples.')


def main(argv):
  if not flags.FLAGS.bootstrap:
    raise errors.FlagError('--bootstrap: a comparison needs resamples')
  config_lib.check_bootstrap(flags.FLAGS.bootstrap)
  if len(argv) < 3:
    raise errors.SpotipopError('usage: python -m spotipop.compare '
                               'WORKDIR:PREDICTOR WORKDIR:PREDICTOR ...')
  print(run_comparison.table(run_comparison.compare(
      argv[1:], flags.FLAGS.bootstrap, flags.FLAGS.bootstrap_seed)))


if __name__ == '__main__':
  cli.run(main, 'spotipop.compare', takes_arguments=True)
