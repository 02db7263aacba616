"""Writes the synthetic demo catalogue: a manifest and its audio.

  python -m spotipop.demo --out=DIR [--num_tracks=200 --sample_rate=16000]

The embedded catalogue (spotipop/data/demo) is this tool's output at its
defaults; data/demo_catalogue.py says how each track is made.
"""

from absl import flags

from spotipop import cli
from spotipop.data import demo_catalogue

flags.DEFINE_string('out', None, 'Directory to write the catalogue into.')
flags.DEFINE_integer('num_tracks', 200, 'Number of tracks.', lower_bound=1)
flags.DEFINE_integer('sample_rate', 16_000, 'Sample rate of the audio.',
                     lower_bound=1)
flags.DEFINE_integer('seed', 0, 'Random seed.')
flags.mark_flag_as_required('out')


def main(argv):
  del argv
  path = demo_catalogue.write_catalogue(flags.FLAGS.out, flags.FLAGS.num_tracks,
                                        flags.FLAGS.sample_rate,
                                        flags.FLAGS.seed)
  print(f'wrote {path}')


if __name__ == '__main__':
  cli.run(main, 'spotipop.demo')
