"""One experiment over several training seeds and several splits.

  python -m spotipop.replicates --flagfile=experiments/spotify32k.flags \\
      --workdir=runs/spotify32k_replicates --train_seeds=0,1,2 \\
      --split_seeds=0,1,2

Trains and evaluates one run per training seed and one per split seed, each
in its own WORKDIR/seedS_splitK, and prints the spread of their test metrics
beside one run's bootstrap interval (training/seed_study.py says how).
Re-running resumes each run where it stopped.
"""

import os

from absl import flags

from spotipop import cli
from spotipop import config as config_lib
from spotipop import errors
from spotipop.training import loop
from spotipop.training import seed_study

config_lib.define_flags()
flags.DEFINE_string('workdir', None, 'Folder of the runs, one per seed.')
flags.DEFINE_list('train_seeds', ['0', '1', '2'],
                  "Training seeds (--seed), on the flagfile's split.")
flags.DEFINE_list('split_seeds', ['0', '1', '2'],
                  "Split seeds (--split_seed), with the flagfile's --seed.")
flags.mark_flag_as_required('workdir')


def main(argv):
  del argv
  config = config_lib.from_flags()
  workdir = os.path.abspath(os.path.expanduser(flags.FLAGS.workdir))
  try:
    train_seeds = [int(s) for s in flags.FLAGS.train_seeds]
    split_seeds = [int(s) for s in flags.FLAGS.split_seeds]
  except ValueError:
    raise errors.FlagError('--train_seeds and --split_seeds are lists of '
                           'integers') from None
  loop.check_before_building(config, workdir)
  print(seed_study.table(seed_study.replicate(config, workdir, train_seeds,
                                                split_seeds)))


if __name__ == '__main__':
  cli.run(main, 'spotipop.replicates')
