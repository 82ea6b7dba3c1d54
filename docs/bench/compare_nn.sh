#!/usr/bin/env bash
# Step times of the NN presets side by side, interleaved, in one run (docs/PERFORMANCE.md):
#   docs/bench/compare_nn.sh ROUNDS MLP_STEPS GPT_STEPS PYTHON BINARY...
# e.g. docs/bench/compare_nn.sh 3 100 30 python3 /tmp/optlab-base target/release/optlab
# Each round runs every binary on both presets, then docs/bench/torch_nn.py.
set -euo pipefail
rounds=$1 mlp=$2 gpt=$3 python=$4
shift 4
here=$(dirname "$0")
for r in $(seq 1 "$rounds"); do
  for bin in "$@"; do
    echo "round $r $bin: $("$bin" train mnist-mlp --bench "$mlp" 2>&1 | tail -1)"
    echo "round $r $bin: $("$bin" train shakespeare-gpt --bench "$gpt" 2>&1 | tail -1)"
  done
  echo "round $r torch: $("$python" "$here/torch_nn.py" "$gpt" 2>&1 | tr '\n' ' ')"
done
