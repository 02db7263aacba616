"""Restores a run's checkpoint and reports its metrics on a split.

  python -m spotipop.evaluate --workdir=runs/default --split=test

writes report.json, predictions.csv and the figures under
WORKDIR/eval/SPLIT-CHECKPOINT/, or --out for a run you cannot write
(evaluation/run_report.py says what each holds), and prints the
model-vs-baselines table.
"""

from absl import flags

from spotipop import cli
from spotipop import config as config_lib
from spotipop.data import catalog
from spotipop.evaluation import run_report
from spotipop.evaluation import scorecard
from spotipop.run import checkpointing

flags.DEFINE_string('workdir', None, 'Run directory written by spotipop.main.')
flags.DEFINE_enum('split', 'test', list(catalog.SPLITS), 'Split to evaluate.')
flags.DEFINE_string('checkpoint', checkpointing.BEST,
                    "'best', 'latest' or a step number.")
flags.DEFINE_integer('bootstrap', None, 'Bootstrap resamples behind the '
                     "intervals (0: none); default: the run's --bootstrap.")
flags.DEFINE_integer('bootstrap_seed', None, "Seed of the resamples; default: "
                     "the run's --bootstrap_seed.")
flags.DEFINE_string('out', None, 'Folder for the files; default: under the run '
                    "(WORKDIR/eval/SPLIT-CHECKPOINT). For a run you cannot write.")
flags.mark_flag_as_required('workdir')


def main(argv):
  del argv
  f = flags.FLAGS
  if f.bootstrap is not None:
    config_lib.check_bootstrap(f.bootstrap)
  summary = run_report.evaluate(f.workdir, f.split, f.checkpoint, f.bootstrap,
                                f.bootstrap_seed, f.out)
  if summary:  # Host 0.
    print(f'{scorecard.headline(summary)}\n'
          f'{scorecard.table(scorecard.rows(summary))}')


if __name__ == '__main__':
  cli.run(main, 'spotipop.evaluate')
