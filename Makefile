# `make run` installs what is missing, builds, and starts a host on 127.0.0.1:3000
# with its data in ./data. `make test` installs, builds, and runs every test.
# `make bench` prints the benchmark figures.

BUILD_DIR ?= build
JOBS ?= $(shell nproc)

.PHONY: deps build run test bench clean

deps:
	bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/orrery start --listen-addr 127.0.0.1:3000 --data-dir data

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure

# Benchmarks print their figures (targets in brackets).
bench: build
	$(BUILD_DIR)/orrery_bench_datastore
	$(BUILD_DIR)/orrery_bench_modules
	$(BUILD_DIR)/orrery_bench_sql
	$(BUILD_DIR)/orrery_bench_live

clean:
	rm -rf $(BUILD_DIR)
