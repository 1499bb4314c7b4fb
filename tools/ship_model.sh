#!/usr/bin/env bash
# Ship a trained model folder with the package: copy it into snnapp/assets/models/MODE, test it
# once on the official test set (recorded in its metrics.json and MODEL_CARD.md), and export its
# ONNX graphs for the edge runtime. The previous shipped model is replaced only on success.
#   tools/ship_model.sh runs/image image
set -euo pipefail
src=${1:?model folder}; mode=${2:?image, audio or multimodal}
cd "$(dirname "$0")/.."
dest=snnapp/assets/models/$mode
tmp=$(mktemp -d "snnapp/assets/models/.$mode.XXXX")
trap 'rm -rf "$tmp"' EXIT
cp -r "$src"/. "$tmp"/
chmod -R u=rwX,go=rX "$tmp"
snnapp evaluate "$tmp" --split test --record
snnapp export "$tmp"
rm -rf "$dest.old"; [ -d "$dest" ] && mv "$dest" "$dest.old"
mv "$tmp" "$dest"; rm -rf "$dest.old"
trap - EXIT
echo "shipped $src as $dest"
