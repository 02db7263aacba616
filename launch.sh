#!/usr/bin/env bash
# Launches a spotipop experiment (experiments/NAME.flags).
#
#   ./launch.sh local NAME [--flag=value ...]      one process, every local device
#                                                  (CPU, or all GPUs of this host)
#   ./launch.sh cpu NAME [...]                     one process, SPOTIPOP_CPU_DEVICES
#                                                  (default 8) simulated CPU devices
#   ./launch.sh build NAME [...]                   builds the dataset only, e.g. with
#                                                  --build_runner=beam, for the runs
#                                                  that read it from --data_dir
#   ./launch.sh multihost NAME [...]               one process per host, joined by
#                                                  jax.distributed.initialize():
#     TPU pod:  gcloud compute tpus tpu-vm ssh VM --worker=all \
#                 --command="cd spotipop && ./launch.sh multihost paper"
#     SLURM:    srun --nodes=4 --ntasks-per-node=1 ./launch.sh multihost paper
#     By hand:  JAX_COORDINATOR_ADDRESS=host0:1234 JAX_NUM_PROCESSES=2 \
#                 JAX_PROCESS_ID=<0|1> ./launch.sh multihost paper
#
# Extra flags override the flagfile, e.g. --workdir=gs://bucket/runs/paper.
set -euo pipefail
cd "$(dirname "$0")"

usage() { sed -n '2,19p' "$0" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
mode=$1 name=$2
shift 2
flagfile="experiments/${name}.flags"
[[ -f $flagfile ]] || { echo "launch.sh: no experiment $flagfile" >&2; exit 2; }
python=${PYTHON:-python}

case $mode in
  local)
    exec "$python" -m spotipop.main --flagfile="$flagfile" "$@" ;;
  cpu)
    # Appended: XLA takes the last device count it is given.
    export XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=${SPOTIPOP_CPU_DEVICES:-8}"
    exec "$python" -m spotipop.main --flagfile="$flagfile" "$@" ;;
  build)
    exec "$python" -m spotipop.build --flagfile="$flagfile" "$@" ;;
  multihost)
    export SPOTIPOP_DISTRIBUTED=1
    exec "$python" -m spotipop.main --flagfile="$flagfile" "$@" ;;
  *)
    echo "launch.sh: unknown mode '$mode'" >&2; usage ;;
esac
