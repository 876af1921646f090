# molt: the two commands (README.md) and the benchmarks, wrapping Meson.
#
#   make run     install what is missing, build, run molt's main job
#   make check   install what is missing, build, run every test lane this
#                machine can run; the last line is "N passed, N failed, N skipped"
#   make bench   build and run the benchmarks in bench/
#   make fuzz    build the clang fuzzing build (build-san) and run every fuzz
#                target for FUZZ_SECONDS each (fuzz/README.md)
#
# Variables: BUILD (build directory, default build), FUZZ_SECONDS (default 60),
# FUZZ_OPTS (more scripts/fuzz.py options, e.g. --merge or --only qmp).
BUILD ?= build
PYTHON ?= /usr/bin/python3
MESON_SETUP_OPTS ?= -Dwerror=true

.PHONY: all deps setup build check run bench fuzz clean

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

FUZZ_SECONDS ?= 60
fuzz: deps
	@$(PYTHON) scripts/fuzz.py --seconds $(FUZZ_SECONDS) $(FUZZ_OPTS)

clean:
	rm -rf $(BUILD)
