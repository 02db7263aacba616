#!/usr/bin/env bash
# Mutation testing of the core logic with mutmut (configured in setup.cfg;
# results and survivors: docs/mutation.md).
#
#   bash tests/mutation.sh                      # all of it
#   bash tests/mutation.sh 'spotipop.metrics.*' # one module's mutants
#
# mutmut copies the tree to mutants/, records which tests reach each function,
# then runs only those tests against each mutant. `mutmut results` lists the
# survivors and `mutmut show NAME` shows one.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v mutmut >/dev/null || pip install -e '.[mutation]'
if [ $# -eq 0 ]; then
  set -- 'spotipop.metrics.*' 'spotipop.report.*' 'spotipop.baselines.*' \
    'spotipop.uncertainty.*' 'spotipop.data.manifest.*' \
    'spotipop.data.splits.*' 'spotipop.data.features.*' \
    'spotipop.train.x_loss_fn*' 'spotipop.train.x_train_step*' \
    'spotipop.train.x_selection_value*' 'spotipop.train.x_record_epoch*' \
    'spotipop.train.x_check_classes*' 'spotipop.train.x_check_training*'
fi
mutmut run "$@"
