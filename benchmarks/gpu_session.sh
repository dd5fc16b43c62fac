#!/usr/bin/env bash
# Everything the gpu profile and the paper profile's full-size check need a GPU for, in one run
# (sized for about 10 minutes on one H100 / H200):
#   1. Tables 2, 3, 4, 5 and 11 on the gpu profile -- the authors' settings without deviation on
#      the offline data -- the two table groups side by side on the one GPU (they share the
#      results folder safely: atomic cells, one training per network);
#   2. the paper profile's latent SymmFlow training step at full size (SD 2.1-base-sized U-Net
#      and VAE with random weights, 512 px, batch 32 per GPU, bf16): samples/s, peak memory,
#      whether bf16 holds, and the GPU-hours of the published budgets;
#   3. Tables 2, 4 and 5 of the paper profile end to end on those stand-ins, every network trained
#      for 50 steps instead of 200 epochs (--train-steps; stored under OUT/paper-check, apart
#      from any full-budget run), beside the gpu tables.
#   4. optional, when RELEASED names a folder of the authors' released weights (LatFM_<data set>_
#      beta<beta>.pt) and SD21 and DATA the Stable Diffusion 2.1-base folder and the data sets:
#      Tables 2, 4 and 5 of the paper profile from each file, nothing trained (each file answers
#      the cells of the data set its name says; VAE names the authors' sd-vae-ft-mse folder,
#      INCEPTION and LPIPS the metrics' weight folders, where present), into OUT/released --
#      after a dry run that prints its cost.
# The performance suite on the same GPU is its own run, after this one (a few minutes; the peers
# flow_matching and torchcfm come with the perf extra; where absent, their rows say skipped):
#   python -m studies.perf --device cuda        (writes results/gpu/perf.{csv,md})
# Usage: [RELEASED=DIR SD21=DIR DATA=DIR [VAE=DIR] [INCEPTION=DIR] [LPIPS=DIR]] bash benchmarks/gpu_session.sh [OUT]
#        (OUT default results/gpu)
set -euo pipefail
OUT=${1:-results/gpu}
WORK=$(mktemp -d)
RELEASED=${RELEASED:-}
if [ -n "$RELEASED" ]; then  # the released weights' inputs checked before any GPU time is spent
    for needed in SD21 DATA; do
        [ -d "${!needed:-}" ] || { echo "error: RELEASED is set but $needed is not a folder; set $needed=DIR"; exit 2; }
    done
    ls "$RELEASED"/LatFM_*.pt > /dev/null || { echo "error: no LatFM_*.pt in RELEASED=$RELEASED"; exit 2; }
fi
python -m benchmarks.run --table 3,11 --profile gpu --device cuda --out "$OUT" --no-progress > "$WORK/tables-3-11.log" 2>&1 &
CLASSIFICATION=$!
python -m benchmarks.run --table 2,4,5 --profile gpu --device cuda --out "$OUT" --no-progress > "$WORK/tables-2-4-5.log" 2>&1 &
SEGMENTATION=$!
python -m studies.standins --out "$WORK/standins" --scale sd21 --images 64 --size 512
STATUS=0
python -m benchmarks.run --table 2,4,5 --profile paper --train-steps 50 --device cuda --no-progress \
    --pretrained "$WORK/standins/sd21" --data-root "$WORK/standins/data" --out "$OUT/paper-check" \
    > "$WORK/paper-check.log" 2>&1 || STATUS=$?
wait "$CLASSIFICATION" || STATUS=$?
wait "$SEGMENTATION" || STATUS=$?
cp "$WORK"/tables-*.log "$WORK"/paper-check.log "$OUT"/ || true
python -m studies.latent_throughput --pretrained "$WORK/standins/sd21" --data-root "$WORK/standins/data" \
    --device cuda --batch 32 --steps 20 --warmup 3 --out "$OUT"
if [ -n "$RELEASED" ]; then
    METRICS=()
    [ -n "${VAE:-}" ] && METRICS+=(--vae "$VAE")
    [ -n "${INCEPTION:-}" ] && METRICS+=(--inception-dir "$INCEPTION")
    [ -n "${LPIPS:-}" ] && METRICS+=(--lpips-dir "$LPIPS")
    for weights in "$RELEASED"/LatFM_*.pt; do
        RUN=(python -m benchmarks.run --table 2,4,5 --profile paper --device cuda --no-progress --pretrained "$SD21"
             --data-root "$DATA" --weights symmflow="$weights" "${METRICS[@]}" --out "$OUT/released")
        "${RUN[@]}" --dry-run > "$OUT/released-$(basename "$weights" .pt)-cost.txt" || STATUS=$?
        "${RUN[@]}" > "$OUT/released-$(basename "$weights" .pt).log" 2>&1 || STATUS=$?
    done
fi
exit "$STATUS"
