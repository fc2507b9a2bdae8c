# acd — build, test and run. `make test` is what CI runs.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps configure build test test-asan test-tsan test-fuzz run sip-demo simulate bench format clean

all: build

# Debian packages the build and tests need (skipped when already installed). The tests also use
# python3, systemd (systemd-analyze, -sysusers, -tmpfiles), iproute2 (ip) and a private etcd
# (etcd-server, etcd-client; never the system's own), keepalived (deploy/ha's example is checked and
# run in a private network namespace; its service is never used), kamailio and sip-tester (SIPp:
# tests/sip starts its own Kamailio on loopback ports; the packaged service is not used): a test
# whose tool is missing
# skips, and in CI a skip is a failure.
DEBS = build-essential cmake ninja-build libgtest-dev libgmock-dev libbenchmark-dev \
       libtomlplusplus-dev nlohmann-json3-dev libcli11-dev liburing-dev libboost-dev \
       libjemalloc-dev pkg-config clang libdpdk-dev libsodium-dev prometheus prometheus-cpp-dev libsystemd-dev \
       libncurses-dev zlib1g-dev python3 systemd iproute2 tmux curl libcurl4-openssl-dev etcd-server etcd-client \
       keepalived libxxhash-dev libldap-dev slapd ldap-utils openssl libsqlite3-dev \
       kamailio kamailio-extra-modules sip-tester librdkafka-dev
deps:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

configure: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The whole suite in the release build, then the router's tests under ASan+UBSan, the threaded
# parts under TSan and the fuzzer; last, the tests that skipped (ctest passes them; with CI=true,
# as in .ci/run, a skipped test fails the suite).
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900 --output-log ctest.log
	$(MAKE) test-asan
	$(MAKE) test-tsan
	$(MAKE) test-fuzz
	@bash tests/report_skips.sh $(BUILD)/ctest.log $(BUILD)-asan/ctest.log

test-asan: deps
	cmake -S . -B $(BUILD)-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DACD_SANITIZE=ON \
	  -DACD_BUILD_BENCH=OFF -DACD_BUILD_TOOLS=OFF
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ctest --output-on-failure -j $(JOBS) --timeout 1800 -E 'ErlangA|ErlangC' \
	  --output-log ctest.log

# The threaded parts (SPSC rings, sequencer, split pipeline, counters) under ThreadSanitizer.
test-tsan: deps
	cmake -S . -B $(BUILD)-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DACD_TSAN=ON \
	  -DACD_BUILD_BENCH=OFF -DACD_BUILD_TOOLS=OFF
	cmake --build $(BUILD)-tsan -j $(JOBS) --target dataplane_split_worker_test dataplane_pipeline_test
	$(BUILD)-tsan/tests/dataplane_split_worker_test
	$(BUILD)-tsan/tests/dataplane_pipeline_test

# The packet fuzzers (clang, libFuzzer + ASan + UBSan) for a bounded time from the seed corpus.
FUZZ_SECONDS ?= 60
test-fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B $(BUILD)-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DACD_FUZZ=ON -DACD_SANITIZE=ON -DACD_DEVELOPER=OFF -DACD_BUILD_BENCH=OFF -DACD_BUILD_TOOLS=OFF
	cmake --build $(BUILD)-fuzz -j $(JOBS) --target pipeline_fuzz secure_session_fuzz
	mkdir -p $(BUILD)-fuzz/corpus $(BUILD)-fuzz/secure-corpus
	$(BUILD)-fuzz/tests/pipeline_fuzz -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	  $(BUILD)-fuzz/corpus tests/fuzz/corpus
	$(BUILD)-fuzz/tests/secure_session_fuzz -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	  $(BUILD)-fuzz/secure-corpus tests/fuzz/secure_corpus

# The quick start: acdd on its embedded default configuration with live simulated traffic.
run: build
	bash control/demo.sh $(BUILD)

# One SIP call routed by acd: Kamailio (sip/kamailio.cfg), acd-sip-bridge, acdd, SIPp as the
# caller and as agent 1000's phone, all on 127.0.0.1; stops by itself.
sip-demo: build
	bash sip/demo.sh $(BUILD)

# A simulated 8-hour day of the example bank centre (what-if, no daemon).
simulate: build
	$(BUILD)/router/acd-sim --config router/sim/examples/bank.toml --duration 28800 --warmup 1800

bench: build
	$(BUILD)/bench/router_bench --benchmark_counters_tabular=true

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan $(BUILD)-fuzz
