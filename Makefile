# molt: the two commands (README.md) and the benchmarks, wrapping Meson.
#
#   make run     install what is missing, build, run molt's main job
#   make check   install what is missing, build, run every test lane this
#                machine can run - the main build's, then the sanitizer
#                lane's (check-sanitize); the last line is
#                "N passed, N failed, N skipped" over both
#   make check-sanitize   only the sanitizer lane: a clang build with ASan
#                + UBSan (LeakSanitizer with ASan) in SAN_BUILD, its unit,
#                integration and fuzz-replay tests (docs/hardening.md)
#   make bench   build and run the benchmarks in bench/
#   make fuzz    build the clang fuzzing build (build-san) and run every fuzz
#                target for FUZZ_SECONDS each (fuzz/README.md)
#
# Variables: BUILD (build directory, default build), SAN_BUILD (the
# sanitizer lane's and the fuzzers', default build-san), FUZZ_SECONDS
# (default 60), FUZZ_OPTS (more scripts/fuzz.py options, e.g. --merge or
# --only qmp).
BUILD ?= build
SAN_BUILD ?= build-san
PYTHON ?= /usr/bin/python3
MESON_SETUP_OPTS ?= -Dwerror=true
# -O1: what the sanitizers advise, and a quicker compile than -O2.
SAN_SETUP_OPTS ?= -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dfuzzing=true \
	-Doptimization=1
SAN_SUITES = --suite unit --suite cli --suite integration --suite fuzz --suite sanitizer

.PHONY: all deps setup build check check-sanitize sanitize-lane run bench fuzz clean

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
	@$(MAKE) --no-print-directory sanitize-lane
	@$(PYTHON) scripts/test-summary.py $(BUILD)/meson-logs/testlog.json \
		$(SAN_BUILD)/meson-logs/testlog.json

check-sanitize: sanitize-lane
	@$(PYTHON) scripts/test-summary.py $(SAN_BUILD)/meson-logs/testlog.json

$(SAN_BUILD)/build.ninja:
	@$(MAKE) --no-print-directory deps
	CC=clang CXX=clang++ meson setup $(SAN_BUILD) $(SAN_SETUP_OPTS)

# The lane's tests; its reports directory starts empty (tests/meson.build).
# A build that fails leaves no testlog: the summary counts the lane failed.
sanitize-lane: $(SAN_BUILD)/build.ninja
	@rm -f $(SAN_BUILD)/meson-logs/testlog.json
	@rm -rf $(SAN_BUILD)/sanitizer-reports && mkdir -p $(SAN_BUILD)/sanitizer-reports
	@ninja -C $(SAN_BUILD) && meson test -C $(SAN_BUILD) --no-rebuild --print-errorlogs \
		--timeout-multiplier 3 $(SAN_SUITES) || true

run: build
	@scripts/demo.sh $(BUILD)

bench: build
	@$(PYTHON) bench/run.py $(BUILD)

FUZZ_SECONDS ?= 60
fuzz: deps
	@$(PYTHON) scripts/fuzz.py --seconds $(FUZZ_SECONDS) $(FUZZ_OPTS)

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
