#!/usr/bin/env bash
# Everything the gpu profile and the paper profile's full-size check need a GPU for, in one run
# (sized for about 10 minutes on one H100 / H200):
#   1. Tables 2, 3, 4, 5 and 11 on the gpu profile -- the authors' recipe on the offline data
#      (its differences: results/gpu/protocol.md) -- the two table groups side by side on the one GPU (they share the
#      results folder safely: atomic cells, one training per network);
#   2. the paper profile's latent SymmFlow training step at full size (SD 2.1-sized U-Net
#      and VAE with random weights, 512 px, batch 32 per GPU, bf16): samples/s, peak memory,
#      whether bf16 holds, and the GPU-hours of the published budgets;
#   3. Tables 2, 4 and 5 of the paper profile end to end on those stand-ins, every network trained
#      for 50 steps instead of 200 epochs (--train-steps; stored under OUT/paper-check, apart
#      from any full-budget run), beside the gpu tables.
#   4. optional, when RELEASED names a folder of the authors' released weights (every .pt, .pth,
#      .bin or .safetensors file there: the latent LatFM_<data set>_beta<beta>.pt and the pixel MNIST
#      and CIFAR-10 state dicts) and DATA the data sets (SD21 the Stable Diffusion 2.1-base folder
#      where a latent file is among them): Tables 2, 4 and 5 (latent files) and 3 and 11 (pixel
#      files) of the paper profile from the files, nothing trained, in one run restricted to the
#      data sets they answer (--datasets released; each file answers the data set its name or its
#      shapes say; VAE names the authors' sd-vae-ft-mse folder, INCEPTION and LPIPS the metrics'
#      weight folders, where present), into OUT/released -- after a dry run that prints its cost.
#      RELEASED_FIRST=1 (or --released-first) runs it before steps 1-3 instead of after them.
# Every visible GPU is used: CUDA_VISIBLE_DEVICES's list, else nvidia-smi's count; on several the
# runs of benchmarks.run go through accelerate launch --num_processes N (torchrun where accelerate
# is absent), one process per GPU.
# The performance suite on the same GPU is its own run, after this one (a few minutes; the peers
# flow_matching and torchcfm come with the perf extra; where absent, their rows say skipped):
#   python -m studies.perf --device cuda        (writes results/gpu/perf.{csv,md})
# Usage: [RELEASED=DIR DATA=DIR [SD21=DIR] [VAE=DIR] [INCEPTION=DIR] [LPIPS=DIR] [RELEASED_FIRST=1]]
#        bash benchmarks/gpu_session.sh [--released-first] [--dry] [OUT]
#        (OUT default results/gpu; --dry or DRY=1 prints the commands and runs none)
set -euo pipefail
RELEASED_FIRST=${RELEASED_FIRST:-0}
DRY=${DRY:-0}
OUT=results/gpu
for arg in "$@"; do
    case "$arg" in
        --released-first) RELEASED_FIRST=1 ;;
        --dry) DRY=1 ;;
        -*) echo "error: unknown option $arg; use --released-first, --dry or an output folder"; exit 2 ;;
        *) OUT=$arg ;;
    esac
done
if [ -n "${CUDA_VISIBLE_DEVICES+set}" ]; then  # the GPUs this process may use
    GPUS=$(tr ',' '\n' <<< "$CUDA_VISIBLE_DEVICES" | grep -c '[^[:space:]]' || true)
else
    GPUS=$(nvidia-smi -L 2> /dev/null | grep -c '^GPU' || true)
fi
GPUS=${GPUS:-0}
PORT=29500
launch() {  # the launcher of one benchmarks.run on every visible GPU, its own rendezvous port each
    if [ "$GPUS" -le 1 ]; then
        LAUNCH=(python -m benchmarks.run)
    elif python -c "import accelerate" 2> /dev/null; then
        LAUNCH=(accelerate launch --multi_gpu --num_processes "$GPUS" --main_process_port "$PORT" -m benchmarks.run)
    else
        LAUNCH=(torchrun --standalone --nproc_per_node "$GPUS" -m benchmarks.run)
    fi
    PORT=$((PORT + 1))
}
run() {  # a command, or its line under --dry
    if [ "$DRY" = 1 ]; then echo "$*"; else "$@"; fi
}
if [ "$DRY" = 1 ]; then WORK=WORK; else WORK=$(mktemp -d); fi
RELEASED=${RELEASED:-}
FILES=()
if [ -n "$RELEASED" ]; then  # the released weights' inputs checked before any GPU time is spent
    [ -d "$RELEASED" ] || { echo "error: RELEASED=$RELEASED is not a folder; set RELEASED=DIR"; exit 2; }
    [ -d "${DATA:-}" ] || { echo "error: RELEASED is set but DATA is not a folder; set DATA=DIR"; exit 2; }
    shopt -s nullglob
    FILES=("$RELEASED"/*.pt "$RELEASED"/*.pth "$RELEASED"/*.bin "$RELEASED"/*.safetensors)
    shopt -u nullglob
    [ "${#FILES[@]}" -gt 0 ] || { echo "error: no .pt, .pth, .bin or .safetensors file in RELEASED=$RELEASED"; exit 2; }
    LATENT=0 PIXEL=0
    for weights in "${FILES[@]}"; do
        case "$(basename "$weights")" in LatFM_*) LATENT=1 ;; *) PIXEL=1 ;; esac
    done
    if [ "$LATENT" = 1 ]; then
        [ -d "${SD21:-}" ] || { echo "error: RELEASED holds a latent model (LatFM_*) but SD21 is not a folder; set SD21=DIR"; exit 2; }
    fi
fi
# the inputs above are checked first, then the GPUs: a missing input says so on any machine
[ "$GPUS" -ge 1 ] || [ "$DRY" = 1 ] || { echo "error: no GPU visible (CUDA_VISIBLE_DEVICES, nvidia-smi); run on a GPU machine"; exit 2; }
STATUS=0
released() {  # step 4: every released file in one run of the tables they answer, nothing trained
    local tables=() options=()
    [ "$LATENT" = 1 ] && tables+=(2 4 5) && options+=(--pretrained "$SD21")
    [ "$PIXEL" = 1 ] && tables+=(3 11)
    [ -n "${VAE:-}" ] && [ "$LATENT" = 1 ] && options+=(--vae "$VAE")
    [ -n "${INCEPTION:-}" ] && options+=(--inception-dir "$INCEPTION")
    [ -n "${LPIPS:-}" ] && options+=(--lpips-dir "$LPIPS")
    for weights in "${FILES[@]}"; do options+=(--weights "symmflow=$weights"); done
    local list
    list=$(IFS=,; echo "${tables[*]}")
    local args=(--table "$list" --profile paper --device cuda --no-progress --data-root "$DATA" --datasets released
                "${options[@]}" --out "$OUT/released")
    if [ "$DRY" = 1 ]; then
        echo "python -m benchmarks.run ${args[*]} --dry-run"
    else
        python -m benchmarks.run "${args[@]}" --dry-run > "$OUT/released-cost.txt" || STATUS=$?
    fi
    launch
    if [ "$DRY" = 1 ]; then echo "${LAUNCH[*]} ${args[*]}"; else
        "${LAUNCH[@]}" "${args[@]}" > "$OUT/released.log" 2>&1 || STATUS=$?
    fi
}
[ "$DRY" = 1 ] || mkdir -p "$OUT"
if [ -n "$RELEASED" ] && [ "$RELEASED_FIRST" = 1 ]; then released; fi
launch
CLASSIFY=("${LAUNCH[@]}" --table 3,11 --profile gpu --device cuda --out "$OUT" --no-progress)
launch
SEGMENT=("${LAUNCH[@]}" --table 2,4,5 --profile gpu --device cuda --out "$OUT" --no-progress)
launch
PAPER=("${LAUNCH[@]}" --table 2,4,5 --profile paper --train-steps 50 --device cuda --no-progress
       --pretrained "$WORK/standins/sd21" --data-root "$WORK/standins/data" --out "$OUT/paper-check")
THROUGHPUT=(python -m studies.latent_throughput --pretrained "$WORK/standins/sd21" --data-root "$WORK/standins/data"
            --device cuda --batch 32 --steps 20 --warmup 3 --out "$OUT")
if [ "$DRY" = 1 ]; then
    echo "${CLASSIFY[*]} &"; echo "${SEGMENT[*]} &"
    echo "python -m studies.standins --out $WORK/standins --scale sd21 --images 64 --size 512"
    echo "${PAPER[*]}"; echo "${THROUGHPUT[*]}"
else
    "${CLASSIFY[@]}" > "$WORK/tables-3-11.log" 2>&1 &
    CLASSIFICATION=$!
    "${SEGMENT[@]}" > "$WORK/tables-2-4-5.log" 2>&1 &
    SEGMENTATION=$!
    python -m studies.standins --out "$WORK/standins" --scale sd21 --images 64 --size 512
    "${PAPER[@]}" > "$WORK/paper-check.log" 2>&1 || STATUS=$?
    wait "$CLASSIFICATION" || STATUS=$?
    wait "$SEGMENTATION" || STATUS=$?
    cp "$WORK"/tables-*.log "$WORK"/paper-check.log "$OUT"/ || true
    "${THROUGHPUT[@]}"
fi
if [ -n "$RELEASED" ] && [ "$RELEASED_FIRST" != 1 ]; then released; fi
exit "$STATUS"
