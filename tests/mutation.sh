#!/usr/bin/env bash
# Mutation testing of the library modules with mutmut (configured in setup.cfg;
# results and survivors: docs/mutation.md).
#
#   bash tests/mutation.sh                      # all of it
#   bash tests/mutation.sh 'spotipop.evaluation.metrics.*' # one module's mutants
#
# mutmut copies the tree to mutants/, records which tests reach each function,
# then runs only those tests against each mutant. `mutmut results` lists the
# survivors and `mutmut show NAME` shows one.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v mutmut >/dev/null || pip install -e '.[mutation]'
if [ $# -eq 0 ]; then
  set -- 'spotipop.evaluation.metrics.*' 'spotipop.evaluation.scorecard.*' \
    'spotipop.evaluation.baselines.*' 'spotipop.evaluation.uncertainty.*' \
    'spotipop.data.manifest.*' \
    'spotipop.data.splits.*' 'spotipop.data.features.*' \
    'spotipop.training.loop.x_loss_fn*' 'spotipop.training.loop.x_train_step*' \
    'spotipop.training.loop.x_selection_value*' 'spotipop.training.loop.x_record_epoch*' \
    'spotipop.training.loop.x_check_classes*' 'spotipop.training.loop.x_check_training*' \
    'spotipop.storage.user_strings.*' 'spotipop.storage.atomic_files.*' \
    'spotipop.data.licences.*' 'spotipop.data.jamendo_api.*' \
    'spotipop.data.http_fetch.*' 'spotipop.data.catalogue_flags.*' \
    'spotipop.data.popularity.*' 'spotipop.data.fma_import.*' \
    'spotipop.data.jamendo_import.*' 'spotipop.storage.locks.*' \
    'spotipop.audio.decode.*' \
    'spotipop.model.train_state.*' 'spotipop.run.workdir.*' \
    'spotipop.run.checkpointing.*' 'spotipop.training.preemption.*' \
    'spotipop.cli.*' 'spotipop.evaluation.run_report.*' \
    'spotipop.evaluation.run_comparison.*' \
    'spotipop.explanation.attribution.*' \
    'spotipop.explanation.split_explanation.*' \
    'spotipop.explanation.explained_run.*' \
    'spotipop.audio.descriptors.*' 'spotipop.prediction.new_tracks.*' \
    'spotipop.training.seed_study.*' 'spotipop.training.summaries.*' \
    'spotipop.audio.file_descriptors.*' 'spotipop.model.inference.*' \
    'spotipop.config.*' 'spotipop.data.catalog.*' 'spotipop.data.pipeline.*' \
    'spotipop.data.spill.*' 'spotipop.data.datasets.*' \
    'spotipop.audio.spectrogram.*' 'spotipop.model.network.*' \
    'spotipop.model.kernels.*' 'spotipop.errors.*' \
    'spotipop.audio.descriptor_names.*' 'spotipop.data.demo_catalogue.*' \
    'spotipop.data.beam_catalog.*' 'spotipop.evaluation.plots.*' \
    'spotipop.explanation.attribution_plots.*' \
    'spotipop.prediction.printed_scores.*'
fi
mutmut run "$@"
