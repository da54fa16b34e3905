#!/usr/bin/env bash
# GPU check of pygkd, in one go and within 8 minutes, on a machine with a CUDA GPU whose Python has torch
# (CUDA build), torch-geometric, numpy, click, pyyaml, tqdm and pytest, but possibly no torch-scatter (PyG's
# own scatter then serves) and no ../shared folder (nothing is installed or downloaded here).
#
# Before (on a development machine, from the repository root; gpu_data/ is ignored by git):
#     mkdir -p gpu_data && cp -r ../shared/data/penn_action gpu_data/
# On the GPU machine, from the repository root:
#     bash benchmarks/gpu_check.sh [OUT]          # OUT defaults to $OUT, else gpu_results
#
# It runs these steps, each under `timeout`, cheapest first, so that a step that fails or runs out of time
# costs only its own results (one GPU session is all a run may get):
#   1. env.txt: torch, CUDA, GPU, torch-geometric, whether torch-scatter is present (stops the run if no GPU);
#   2. the CUDA tests (pytest -m cuda);
#   3. benchmarks/backbone_speed.py on the GPU, eager: float32 and bfloat16 autocast;
#   4. Penn Action Table 1 at OP 0.6 with the paper's network and schedule (`--budget paper`, seed 0):
#      teacher, student w/o KD and student w/ KD (rows are recorded as they finish);
#   5. backbone_speed.py under torch.compile (float32), with the time that is left (compiling is slow).
# Every step's output is in OUT/<step>.log; the tables that exist at the end, also of a step cut short, are
# copied to OUT/tables/. The exit status is 1 when any step failed, and the failed steps are named.
# GPU_CHECK_DRY_RUN=1 prints the commands instead of running them (what tests/test_gpu_check.py checks on a CPU).
set -euo pipefail

OUT=${1:-${OUT:-gpu_results}}
DATA=gpu_data/penn_action
BUDGET_S=480
PYTHON=${PYTHON:-python}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1  # a step killed by its timeout still leaves what it printed in its log
began=$SECONDS
failed=()

run() {  # run STEP LIMIT_S COMMAND...: COMMAND under timeout, its output into OUT/STEP.log
  local step=$1 limit=$2
  shift 2
  if [[ -n ${GPU_CHECK_DRY_RUN:-} ]]; then
    printf '%q ' "$@"
    echo
    return
  fi
  local left=$((BUDGET_S - (SECONDS - began)))
  ((limit > left)) && limit=$left
  if ((limit <= 0)); then
    echo "gpu_check: no time left for step '$step'" >&2
    failed+=("$step")
    return
  fi
  echo "== $step (at most ${limit} s)"
  if ! timeout --kill-after=10 "$limit" "$@" > >(tee "$OUT/$step.log") 2>&1; then
    echo "gpu_check: step '$step' failed or ran out of time (${limit} s); see $OUT/$step.log" >&2
    failed+=("$step")
  fi
}

if [[ -z ${GPU_CHECK_DRY_RUN:-} ]]; then
  [[ -d $DATA/labels ]] || { echo "gpu_check: no $DATA/labels; first: mkdir -p gpu_data && cp -r ../shared/data/penn_action gpu_data/" >&2; exit 1; }
  mkdir -p "$OUT/tables"
  "$PYTHON" - <<'EOF' | tee "$OUT/env.txt"
import importlib.util, torch, torch_geometric
assert torch.cuda.is_available(), "gpu_check: CUDA is not available"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}, "
      f"bf16 {torch.cuda.is_bf16_supported()}, torch-geometric {torch_geometric.__version__}, "
      f"torch-scatter {'present' if importlib.util.find_spec('torch_scatter') else 'absent'}")
EOF
fi

run cuda_tests 90 "$PYTHON" -m pytest -q -m cuda tests
speed=("$PYTHON" benchmarks/backbone_speed.py --device cuda --layouts ntu25 --warmup 3 --runs 10 --threads 4)
run backbone_speed_eager 40 "${speed[@]}"
run table1 270 "$PYTHON" -m cli.main reproduce table1 --config penn_action --budget paper --seeds 0 --occlusion 0.6 \
  --set device=cuda --set num_workers=8 --set "data.root=$DATA" --set "data.prepared=$OUT/prepared/penn_action" \
  --results "$OUT/results"
run backbone_speed_compile "$BUDGET_S" "${speed[@]}" --compile --precisions float32

if [[ -z ${GPU_CHECK_DRY_RUN:-} ]]; then
  if [[ -d $OUT/results ]]; then
    find "$OUT/results" -name table.md | while read -r table; do
      cp "$table" "$OUT/tables/$(basename "$(dirname "$table")").md"
    done
  fi
  for mode in eager compile; do
    log=$OUT/backbone_speed_$mode.log
    [[ -f $log ]] && { grep '^|\|^#' "$log" > "$OUT/tables/backbone_speed_$mode.md" || true; }
  done
  echo "gpu_check: done in $((SECONDS - began)) s; tables in $OUT/tables/"
  if ((${#failed[@]})); then
    echo "gpu_check: failed: ${failed[*]}" >&2
    exit 1
  fi
fi
