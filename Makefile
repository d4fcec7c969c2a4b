# Makefile - a thin front for CMake/CTest. `make run` and `make test` are the README's two commands.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-sanitize test-asan test-tsan test-valgrind bench install fuzz clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# The main job: jwtsessiond on 127.0.0.1:8080 (memory store), with a curl quickstart to paste.
run: build
	@daemon/quickstart.sh $(BUILD)/daemon/jwtsessiond

# Every test suite.
test: build
	@ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

# ASan+UBSan and TSan builds running the unit and integration suites.
test-sanitize: test-asan test-tsan

test-asan: deps
	@cmake -S . -B build-asan -DJWTS_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug -DJWTS_BUILD_BENCH=OFF >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@ctest --test-dir build-asan -L 'unit|integration' --output-on-failure -j$(JOBS)

test-tsan: deps
	@cmake -S . -B build-tsan -DJWTS_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug -DJWTS_BUILD_BENCH=OFF >/dev/null
	@cmake --build build-tsan -j$(JOBS)
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" scripts/no-aslr.sh \
		ctest --test-dir build-tsan -L 'unit|integration' --output-on-failure -j$(JOBS)

# The unit suites under valgrind memcheck (invalid accesses and leaks fail the run).
test-valgrind: build
	@scripts/valgrind-tests.sh $(BUILD) unit

# Speed targets: every bench/bench_* program, figures next to their same-run baselines.
bench: build
	@scripts/bench.sh $(BUILD)

install: build
	@cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX))

# Short libFuzzer runs of every parser target (FUZZ_SECONDS each).
fuzz: deps
	@scripts/fuzz.sh $(or $(FUZZ_SECONDS),30)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
