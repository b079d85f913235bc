# `make run` installs what is missing, builds, and starts a host on 127.0.0.1:3000
# with its data in ./data. `make test` installs, builds, and runs every test, then
# runs them again on a build with AddressSanitizer and UndefinedBehaviorSanitizer,
# then runs each fuzz target for FUZZ_SECONDS.
# `make bench` prints the benchmark figures; `make fuzz` runs each fuzz target
# for FUZZ_SECONDS.

BUILD_DIR ?= build
ASAN_DIR ?= build-asan
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60

# V8 keeps its own heap and exits with memory still mapped: leaks are not
# reported; every other finding fails the run.
SANITIZER_ENV = ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$(CURDIR)/tests/sanitizers/ubsan.supp \
                ORRERY_SANITIZED=1

.PHONY: deps build build-asan run test test-asan bench fuzz clean

deps:
	bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD_DIR) -j $(JOBS)

# What the tests need; the benchmarks are not built with sanitizers.
build-asan: deps
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Sanitize -DORRERY_SANITIZE=ON
	cmake --build $(ASAN_DIR) -j $(JOBS) --target orrery orrery_tests

run: build
	$(BUILD_DIR)/orrery start --listen-addr 127.0.0.1:3000 --data-dir data

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure
	$(MAKE) test-asan
	$(MAKE) fuzz

test-asan: build-asan
	cd $(ASAN_DIR) && $(SANITIZER_ENV) ctest --output-on-failure

# Benchmarks print their figures (targets in brackets).
bench: build
	$(BUILD_DIR)/orrery_bench_datastore
	$(BUILD_DIR)/orrery_bench_modules
	$(BUILD_DIR)/orrery_bench_sql
	$(BUILD_DIR)/orrery_bench_live
	$(BUILD_DIR)/orrery_bench_transfer
	$(BUILD_DIR)/orrery_bench_databases
	$(BUILD_DIR)/orrery_bench_access
	node tests/bench/view_latency.mjs
	node tests/bench/protocol_latency.mjs
	node tests/bench/migration_time.mjs

fuzz: deps
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) build-fuzz
