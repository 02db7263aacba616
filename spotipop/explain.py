"""Why a run's model scores tracks as it does: attributions over a split.

  python -m spotipop.explain --workdir=runs/default --split=test \\
      --track_ids=demo0007,demo0042

writes the permutation importance beside the GBDT's SHAP, per-track integrated
gradients and figures under WORKDIR/explain/SPLIT-CHECKPOINT/, or --out
(explanation/split_explanation.py lists the files), and prints the importance
table.
"""

from absl import flags

from spotipop import cli
from spotipop.data import catalog
from spotipop.explanation import split_explanation
from spotipop.run import checkpointing

flags.DEFINE_string('workdir', None, 'Run directory written by spotipop.main.')
flags.DEFINE_enum('split', 'test', list(catalog.SPLITS), 'Split to explain.')
flags.DEFINE_string('checkpoint', checkpointing.BEST,
                    "'best', 'latest' or a step number.")
flags.DEFINE_list('track_ids', [], 'Tracks of the split to draw, one PNG each.')
flags.DEFINE_integer('repeats', 5, 'Shuffles per input in the permutation '
                     'importance.', lower_bound=1)
flags.DEFINE_integer('steps', 64, 'Path steps of the integrated gradients.',
                     lower_bound=1)
flags.DEFINE_integer('seed', 0, 'Seed of the shuffles.')
flags.DEFINE_string('out', None, 'Folder for the files; default: under the run '
                    "(WORKDIR/explain/SPLIT-CHECKPOINT). For a run you cannot write.")
flags.mark_flag_as_required('workdir')


def main(argv):
  del argv
  f = flags.FLAGS
  summary = split_explanation.explain(
      f.workdir, f.split, f.checkpoint, tuple(t for t in f.track_ids or () if t),
      f.repeats, f.steps, f.seed, f.out)
  print(split_explanation.table_text(summary))


if __name__ == '__main__':
  cli.run(main, 'spotipop.explain')
