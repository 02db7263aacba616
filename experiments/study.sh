#!/usr/bin/env bash
# The real-data study: the tabular tower against LightGBM and the trivial
# baselines on spotify_songs_32k (random, artist-group and time splits) and on
# the seed paper's falah2025 table (random and artist-group splits, popular at
# >= 50 and at the median, 71), and on the real FMA sample's metadata (artist
# and random splits). Needs ../shared/data beside the repository.
#
#   bash experiments/study.sh   # runs/NAME/, runs/NAME.txt, then the tables
#
# Flags given to the script go to every run. Each run's wall time goes to
# stderr; re-running resumes (finished runs are only re-evaluated).
set -euo pipefail
cd "$(dirname "$0")/.."
EXPERIMENTS=(spotify32k spotify32k_group spotify32k_time falah2025
             falah2025_group falah2025_median falah2025_group_median
             fma_sample fma_sample_random)
mkdir -p runs
python -m spotipop.catalogues fma --metadata_dir=../shared/data/fma_sample \
    --out=catalogues/fma_sample --subset=full > /dev/null
for name in "${EXPERIMENTS[@]}"; do
  start=$(date +%s)
  python -m spotipop.main --flagfile="experiments/$name.flags" "$@" \
      > "runs/$name.txt"
  echo "$name: $(( $(date +%s) - start )) s" >&2
done
python -m spotipop.report "${EXPERIMENTS[@]/#/runs/}"
