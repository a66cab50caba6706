#!/usr/bin/env bash
# StyleBank training (resumable): architecture 3 until step 24,7xx, then grown to 4 (see README). Run from a checkout: bash run.sh REPO CONTENT_DIR MODEL_DIR
set -euo pipefail
REPO=$1; CONTENT=$2; OUT=$3
S=$REPO/../shared/data/styles
cd "$REPO"
exec "${PY:-.venv/bin/python}" -m core stylebank train --content-dir "$CONTENT" --out "$OUT" --resume \
  --arch 4 --width 24 --identity-ssim-weight 10 --size 256 --batch-size 2 --lr 3e-4 --bank-lr 3e-4 --ae-warmup 26500 --bank-warmup 2000 --ed-style-scale 0.1 --steps 49500 --t 2 \
  --style-weight 10 --content-weight 1 --content-layers relu3_3 --tv-weight 10 --grid-weight 0.3 --style-size 512 --checkpoint-every 50 --quiet \
  --style la_muse=$S/la_muse.jpg --style mondrian=$S/mondrian.jpg --style sketch=$S/sketch.png \
  --style matisse=$S/woman_with_hat_matisse.jpg --style poitiers=$S/the_resevoir_at_poitiers.jpg \
  --style brushstrokes=$S/brushstrokes.jpg --style picasso=$S/picasso_self_portrait.jpg \
  --style scene_de_rue=$S/scene_de_rue.jpg --style leger=$S/contrast_of_forms.jpg \
  --style cubist_nude=$S/picasso_seated_nude_hr.jpg --style sanguine=$S/woman_in_peasant_dress_cropped.jpg \
  --style watercolour=$S/antimonocromatismo.jpg
