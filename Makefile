# molt: the two commands (README.md) and the benchmarks, wrapping Meson.
#
#   make run     install what is missing, build, run molt's main job
#   make check   install what is missing, build, run every test lane this
#                machine can run; the last line is "N passed, N failed, N skipped"
#   make bench   build and run the benchmarks in bench/
#
# Variables: BUILD (build directory, default build).
BUILD ?= build
PYTHON ?= /usr/bin/python3
MESON_SETUP_OPTS ?= -Dwerror=true

.PHONY: all deps setup build check run bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	@$(MAKE) --no-print-directory deps
	meson setup $(BUILD) $(MESON_SETUP_OPTS)

setup: deps $(BUILD)/build.ninja

build: setup
	ninja -C $(BUILD)

# The summary is the last line on stdout; on failures the status is 1
# (make then adds its own error line on stderr).
check: build
	@meson test -C $(BUILD) --print-errorlogs || true
	@$(PYTHON) scripts/test-summary.py $(BUILD)/meson-logs/testlog.json

run: build
	@scripts/demo.sh $(BUILD)

bench: build
	@$(PYTHON) bench/run.py $(BUILD)

clean:
	rm -rf $(BUILD)
