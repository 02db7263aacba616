"""Builds the dataset, trains, and evaluates the best checkpoint on the test split.

  python -m spotipop.main --flagfile=experiments/default.flags --workdir=runs/default

Re-running with the same --workdir resumes from its latest checkpoint. Set
SPOTIPOP_DISTRIBUTED=1 (launch.sh multihost does) to call
jax.distributed.initialize() for multi-host runs.
"""

import os

from absl import flags
from absl import logging
import jax

from spotipop import cli
from spotipop import config as config_lib
from spotipop.evaluation import run_report
from spotipop.evaluation import scorecard
from spotipop.training import loop

flags.DEFINE_string('workdir', None, 'Run directory: config, checkpoints, '
                    'metrics and evaluation reports.')
flags.mark_flag_as_required('workdir')
config_lib.define_flags()


def initialize_distributed():
  """Joins the other hosts; TPU pods and SLURM need no settings.

  Elsewhere set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID.
  """
  kwargs = {name: int(os.environ[var]) for name, var in (
      ('num_processes', 'JAX_NUM_PROCESSES'), ('process_id', 'JAX_PROCESS_ID'))
            if var in os.environ}
  jax.distributed.initialize(**kwargs)


def main(argv):
  del argv
  if os.environ.get('SPOTIPOP_DISTRIBUTED') == '1':
    initialize_distributed()
  config = config_lib.from_flags()
  workdir = os.path.abspath(os.path.expanduser(flags.FLAGS.workdir))
  logging.info('spotipop on %d process(es), devices: %s', jax.process_count(),
               jax.devices())
  loop.check_before_building(config, workdir)
  progress = loop.train_and_evaluate(config, workdir)
  if progress['best_step'] is None:
    return
  summary = run_report.evaluate(workdir, 'test')
  if summary:  # Host 0.
    print(f'{scorecard.headline(summary)}\n'
          f'{scorecard.table(scorecard.rows(summary))}\n'
          f'Best validation {config.train.selection_metric} '
          f"{progress['best_val_metric']:.3f} at step {progress['best_step']}; "
          f'report in {workdir}/eval/test-best')


if __name__ == '__main__':
  cli.run(main, 'spotipop')
