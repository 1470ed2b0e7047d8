#!/usr/bin/env bash
# The device check for a CUDA machine: GPU tests, GPU benchmark, and a real training job.
# Usage (repo root):  OUT=/tmp/gpu_out bash scripts/gpu_check.sh
# Needs torch with CUDA, opencv, pytest and the grad-cam package importable (PYTHONPATH may add it).
set -u
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PY:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch, cv2, os; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0), 'cpus', os.cpu_count())" | tee -a "$OUT/gpu.txt"

echo "== 1. tests marked gpu"
timeout 150 $PY -m pytest -q -m gpu -p no:cacheprovider tests/ 2>&1 | tail -15 | tee "$OUT/pytest_gpu.txt"

if [ -z "${SKIP_BENCH:-}" ]; then
  echo "== 2. benchmark"
  timeout 150 $PY benchmarks/gpu_bench.py --out "$OUT/gpu_bench.json" 2>&1 | tail -60
fi

echo "== 3. a training job on the GPU (synthetic printouts, AMP, loader workers)"
timeout 60 $PY -m ecg_model synth --n "${N_SYNTH:-1200}" --seed 3 --source sim /tmp/gpu_ds > /dev/null &&
  timeout 200 $PY -m ecg_model train /tmp/gpu_ds --device cuda --epochs "${EPOCHS:-6}" --batch-size 64 \
    --photo-aug 0 --patience 99 --out /tmp/gpu_run/model.pt --quiet 2>&1 | tail -20
if cp /tmp/gpu_run/metrics.json "$OUT/train_metrics.json" 2>/dev/null; then
  $PY - "$OUT/train_metrics.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
for r in m.get("history", []):
    print("epoch", r.get("epoch"), "images/s", round(r.get("images_per_s", 0), 1), "val_auroc", r.get("val_auroc"))
print("device", m.get("device"))
PYEOF
fi
echo "== done"
