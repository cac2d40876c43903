#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for edgewise: Chromium (which also ships the SwiftShader
# Vulkan driver that Dawn uses when there is no GPU), the Vulkan loader, and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -e /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libvulkan.so.1 ] || need+=(libvulkan1)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's PyTorch (CPU) for the independent check of the vision encoder (src/testing/clip_torch_oracle.py
# runs with /usr/bin/python3): about 150 MB of packages, 3 minutes to install. Pillow for the check of
# Reka Edge's image preprocessing (src/testing/yasa2_preprocess_oracle.py): a few MB.
if ! /usr/bin/python3 -c 'import torch, numpy, PIL' >/dev/null 2>&1; then
  echo "setup: installing python3-torch python3-pil"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-torch python3-pil >/dev/null
fi
# A second WebGPU device for tests: Mesa 25's lavapipe (from bookworm-backports; Debian 12's own 22.3 is
# refused by Dawn) has shader-f16 and a 128 MiB binding limit, so the f16 kernel variants and the
# split-binding paths run somewhere. Only its Vulkan driver is unpacked, into .cache/, not installed.
LVP_DIR="$PWD/.cache/lavapipe"
if [ ! -f "$LVP_DIR/lvp_icd.json" ]; then
  echo "setup: fetching Mesa lavapipe (bookworm-backports) into .cache/lavapipe"
  if [ ! -f /etc/apt/sources.list.d/edgewise-backports.list ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/edgewise-backports.list >/dev/null
  fi
  $SUDO apt-get update -qq
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq -t bookworm-backports mesa-vulkan-drivers 2>/dev/null)
  mkdir -p "$LVP_DIR/root"
  dpkg -x "$tmp"/mesa-vulkan-drivers_*.deb "$LVP_DIR/root"
  rm -rf "$tmp"
  lib=$(find "$LVP_DIR/root" -name libvulkan_lvp.so | head -1)
  printf '{ "file_format_version": "1.0.0", "ICD": { "library_path": "%s", "api_version": "1.3.0" } }\n' "$lib" > "$LVP_DIR/lvp_icd.json"
fi

npm ci --no-audit --no-fund --loglevel=error

# The chat page's default model (stories260K, 1 MB) into models/: copied from ../shared/models when
# present, else downloaded from the Hugging Face hub. Offline with neither, the dev server still serves
# ../shared/models when it appears, so this is a warning, not a failure.
npm run -s models || echo "setup: warning: the default model could not be placed in models/ (run: npm run models)"
