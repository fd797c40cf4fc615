# Two commands for a newcomer: `make run` and `make test`.
# Both create .venv when missing and reinstall only when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Pinned on purpose: on these machines this exact version resolves to a local
# CPU build; a looser spec pulls gigabytes of CUDA packages.
TORCH  := torch==2.13.0
# System libraries some backends load at run time (Vulkan RIFE — mesa-vulkan-drivers gives any
# machine a Vulkan device, lavapipe, so its tests run in CI — audio playback, and espeak-ng, the
# last-resort voice).
SYSPKGS := libvulkan1 mesa-vulkan-drivers libportaudio2 espeak-ng poppler-utils

.PHONY: run test sysdeps clean

run: $(VENV)/.installed-run
	$(VENV)/bin/inkubator $(ARGS)

test: $(VENV)/.installed-test
	HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest $(PYTEST_ARGS)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Installs what the embedded defaults need; torch first, on the pinned path.
$(VENV)/.installed-run: pyproject.toml | $(PY)
	@$(MAKE) --no-print-directory sysdeps
	$(PIP) install --quiet $(TORCH)
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed-run
	$(PIP) install --quiet -e '.[test]'
	@touch $@

# Installs missing system libraries when we can (root + apt); otherwise says
# which are missing. The app runs without them and says what it lacks.
sysdeps:
	@missing=""; for p in $(SYSPKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing system packages:$$missing"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
		|| echo "warning: could not install$$missing; Vulkan RIFE / audio playback will be unavailable"; \
	else \
		echo "note: system packages missing:$$missing (install them with your package manager for Vulkan RIFE / audio playback)"; \
	fi

clean:
	rm -rf $(VENV) build *.egg-info
