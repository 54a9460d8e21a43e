#!/usr/bin/env bash
# A stand-in for a lab's training command, for the end-to-end tests
# (tests/e2e/dispatch_e2etest.cc). It behaves as lerobot does where the
# worker looks: progress lines on stdout ("step:1K smpl:... loss:..."), a
# checkpoint at --out/checkpoints/last.ckpt, exit 0. The checkpoint is a
# small JSON document recording what the job was given, so the test can
# check that a finetune started from its pretrain's checkpoint.
#
#   fake_train.sh --dataset=URI --steps=N --out=DIR --manifest=FILE [--init=CKPT]
#                 [--every=K]
#
# --every=K also writes the checkpoints of steps K, 2K, ... below N at
# --out/checkpoints/step_<step>.ckpt (a template's checkpoint_at_step).
set -euo pipefail

dataset="" steps="" out="" manifest="" init="" every=""
for arg in "$@"; do
  case "$arg" in
    --dataset=*) dataset="${arg#--dataset=}" ;;
    --steps=*) steps="${arg#--steps=}" ;;
    --out=*) out="${arg#--out=}" ;;
    --manifest=*) manifest="${arg#--manifest=}" ;;
    --init=*) init="${arg#--init=}" ;;
    --every=*) every="${arg#--every=}" ;;
    *) echo "fake_train: unknown argument $arg" >&2; exit 2 ;;
  esac
done
if [[ -z "$dataset" || -z "$steps" || -z "$out" || -z "$manifest" ]]; then
  echo "fake_train: --dataset, --steps, --out and --manifest are required" >&2
  exit 2
fi
if [[ ! -f "$manifest" ]]; then
  echo "fake_train: no subset manifest at $manifest" >&2
  exit 3
fi
if [[ -n "$init" && ! -f "$init" ]]; then
  echo "fake_train: no init checkpoint at $init" >&2
  exit 4
fi

echo "fake_train: dataset=$dataset steps=$steps out=$out manifest=$manifest init=$init"
echo "fake_train: job ${MIXSWEEP_JOB_ID:-?} output dir ${MIXSWEEP_OUTPUT_DIR:-?}"
# One lerobot-style line per 1000 steps (lerobot prints 1K, 2K, ...).
thousands=$(( steps / 1000 ))
for (( k = 1; k <= thousands; k++ )); do
  sleep 0.2
  loss=$(awk -v k="$k" 'BEGIN { printf "%.3f", 1.0 / (1 + k) }')
  echo "INFO 2025-01-01 00:00:0$k ts/train.py:232 step:${k}K smpl:$(( k * 64 ))K ep:$k epch:0.0$k loss:$loss grdn:0.910 lr:1.0e-04 updt_s:0.100 data_s:0.001"
done

mkdir -p "$out/checkpoints"
if [[ -n "$every" ]]; then
  for (( s = every; s < steps; s += every )); do
    printf '{"fake_train": true, "dataset": "%s", "steps": %s, "init_checkpoint": "%s", "manifest": "%s"}\n' \
      "$dataset" "$s" "$init" "$manifest" > "$out/checkpoints/step_$s.ckpt"
  done
fi
printf '{"fake_train": true, "dataset": "%s", "steps": %s, "init_checkpoint": "%s", "manifest": "%s"}\n' \
  "$dataset" "$steps" "$init" "$manifest" > "$out/checkpoints/last.ckpt.tmp"
mv "$out/checkpoints/last.ckpt.tmp" "$out/checkpoints/last.ckpt"
echo "fake_train: wrote $out/checkpoints/last.ckpt"
exit 0
