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
# `make run STORE=file`: the file store and a kept signing key under $(BUILD)/quickstart-state,
# so sessions survive a restart.
STORE ?= memory
run: build
	@STORE=$(STORE) daemon/quickstart.sh $(BUILD)/daemon/jwtsessiond

# Every test suite. scripts/check-suites.sh first: the registered tests must match
# tests/suites.list label by label, so a renamed or dropped suite fails instead of vanishing;
# --no-tests=error makes a label that matches nothing fail too.
CTEST = ctest --no-tests=error --output-on-failure -j$(JOBS)

test: build
	@scripts/check-suites.sh $(BUILD)
	@$(CTEST) --test-dir $(BUILD)

# ASan+UBSan running the unit, integration and e2e suites (jwtsessiond itself built with them:
# a report on its stderr or an unclean exit fails the e2e test), and TSan running the unit,
# integration and stress suites; both also run the events suite on a cluster.
test-sanitize: test-asan test-tsan

ASAN_ENV = ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=1" \
	UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

test-asan: deps
	@cmake -S . -B build-asan -DJWTS_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug -DJWTS_BUILD_BENCH=OFF >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@scripts/check-suites.sh build-asan unit integration e2e
	@$(ASAN_ENV) $(CTEST) --test-dir build-asan -L 'unit|integration|e2e'
	@# of the cluster suites, the events one (its relay is ours alone; the others run in make test)
	@$(ASAN_ENV) $(CTEST) --test-dir build-asan -L cluster -R '^test_cluster_events$$'

test-tsan: deps
	@cmake -S . -B build-tsan -DJWTS_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug -DJWTS_BUILD_BENCH=OFF >/dev/null
	@cmake --build build-tsan -j$(JOBS)
	@scripts/check-suites.sh build-tsan unit integration stress
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" scripts/no-aslr.sh \
		$(CTEST) --test-dir build-tsan -L 'unit|integration|stress'
	@# a TSan jwtsessiond under the API suite on memory and on Redis (asynchronous, cached, workers),
	@# a stalled Redis, bad input, and tenants (the rest of e2e runs under ASan)
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" scripts/no-aslr.sh \
		$(CTEST) --test-dir build-tsan -L e2e -R '^(test_api|test_api_redis|test_api_redis_cached|test_api_redis_pooled|test_stall|test_badinput|test_gateways_redis|test_tenants)$$'
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" scripts/no-aslr.sh \
		$(CTEST) --test-dir build-tsan -L cluster -R '^test_cluster_events$$'

# The unit suites under valgrind memcheck (invalid accesses and leaks fail the run).
test-valgrind: build
	@scripts/check-suites.sh $(BUILD) unit
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
