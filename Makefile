# egressd: `make demo` and `make test` are the two commands a newcomer needs.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_TSAN ?= build-tsan
BUILD_FUZZ ?= build-fuzz
BUILD_PKG  ?= build-package
BUILD_PLAIN ?= build-plain
BUILD_CLANG ?= build-clang
# Warnings are errors for developers and CI (a plain cmake build, as a packager's, leaves it off).
CMAKE_ARGS ?= -DEGRESS_WERROR=ON
JOBS       ?= $(shell nproc)
# Seconds each libFuzzer target runs in `make fuzz`.
FUZZ_SECONDS ?= 60

# ccache when it is installed (scripts/install-deps.sh installs it); expanded when a recipe runs,
# so after `deps`.
CCACHE = $$(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# Paths relative to the checkout in ccache's keys, so a fresh clone elsewhere (CI) hits the cache.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1
# ThreadSanitizer needs a memory layout that high ASLR entropy (vm.mmap_rnd_bits > 28) breaks
# ("unexpected memory mapping"): its builds (gtest discovery runs the tests) and tests run without
# ASLR, per process (setarch -R), never by changing the host's sysctl.
NOASLR = setarch $$(uname -m) -R
# Unit tests not run under TSan, each for a stated reason:
#   audit_schema_validation: checks the JSON of every event type against the schema (make test
#     and make asan run it); its records_dropped sample needs the writer to fall behind a flood,
#     which it did not in 3 runs of 3 under TSan ("dropped 0": a timing, not a race).
TSAN_EXCLUDE ?= ^audit_schema_validation$$
# Reports of the sanitized egressd and egressctl in `make asan-e2e` go to files, so none is missed
# when a case does not look at egressd's stderr; any file there fails the target, from any attempt.
# A case whose functional checks fail is run once more there (its failure stays in the log): the
# step is for memory errors, ASan makes egressd 2-3x slower under cases that time real traffic,
# and `make test` runs the same cases unsanitized, where one failure fails.
SANITIZER_LOGS = $(CURDIR)/$(BUILD_ASAN)/sanitizer-logs
# Leaks inside third-party libraries, each with its reason (tests/lsan.supp).
export LSAN_OPTIONS ?= suppressions=$(CURDIR)/tests/lsan.supp
# e2e cases not run under ASan, each for a stated reason:
#   sandbox_teardown: runs no egressd (it tests the sandbox library; `make test` runs it).
ASAN_E2E_EXCLUDE ?= ^e2e\.(sandbox_teardown)$$

.PHONY: all deps build test unit e2e demo asan asan-e2e tsan fuzz plain clang bench package format check-format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CCACHE) $(CMAKE_ARGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

## Every test: unit, policy examples, deployment files, end-to-end namespace sandbox. Ends with ctest's summary.
test: build
	ctest --test-dir $(BUILD) --output-on-failure -j 1

unit: build
	ctest --test-dir $(BUILD) --output-on-failure -L unit -j $(JOBS)

e2e: build
	ctest --test-dir $(BUILD) --output-on-failure -L e2e

# One build tree per sanitizer, configured once; each target builds only what it runs.
$(BUILD_ASAN)/build.ninja: | deps
	cmake -S . -B $(BUILD_ASAN) -G Ninja $(CCACHE) $(CMAKE_ARGS) -DEGRESS_SANITIZE=address -DEGRESS_BENCH=OFF \
	      -DCMAKE_BUILD_TYPE=Debug

$(BUILD_TSAN)/build.ninja: | deps
	cmake -S . -B $(BUILD_TSAN) -G Ninja $(CCACHE) $(CMAKE_ARGS) -DEGRESS_SANITIZE=thread -DEGRESS_BENCH=OFF \
	      -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g -O1"

## Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps $(BUILD_ASAN)/build.ninja
	cmake --build $(BUILD_ASAN) -j $(JOBS) --target unit_tests
	ctest --test-dir $(BUILD_ASAN) --output-on-failure -L unit -j $(JOBS)

## The end-to-end suite against egressd and egressctl built with ASan + UBSan (as root).
asan-e2e: deps $(BUILD_ASAN)/build.ninja
	cmake --build $(BUILD_ASAN) -j $(JOBS) --target egressd egressctl
	rm -rf $(SANITIZER_LOGS) && mkdir -p $(SANITIZER_LOGS)
	ASAN_OPTIONS=log_path=$(SANITIZER_LOGS)/asan:detect_leaks=1 \
	UBSAN_OPTIONS=log_path=$(SANITIZER_LOGS)/ubsan:print_stacktrace=1 \
	  ctest --test-dir $(BUILD_ASAN) --output-on-failure -L e2e -E '$(ASAN_E2E_EXCLUDE)' \
	    --repeat until-pass:2; rc=$$?; \
	if [ -n "$$(ls -A $(SANITIZER_LOGS))" ]; then \
	  echo "asan-e2e: sanitizer reports:"; tail -n +1 $(SANITIZER_LOGS)/*; exit 1; fi; \
	exit $$rc

## Unit tests under ThreadSanitizer (the audit writer and the workers hand data between threads).
tsan: deps $(BUILD_TSAN)/build.ninja
	$(NOASLR) cmake --build $(BUILD_TSAN) -j $(JOBS) --target unit_tests
	TSAN_OPTIONS="second_deadlock_stack=1 $$TSAN_OPTIONS" \
	  $(NOASLR) ctest --test-dir $(BUILD_TSAN) --output-on-failure -L unit -E '$(TSAN_EXCLUDE)' -j $(JOBS)

## Every libFuzzer target (tests/fuzz) for FUZZ_SECONDS from its seed corpus in the repo.
# libFuzzer needs clang; the libraries get the fuzzer's coverage flag too, so it sees into them.
fuzz: deps
	cmake -S . -B $(BUILD_FUZZ) -G Ninja $(CCACHE) $(CMAKE_ARGS) -DCMAKE_CXX_COMPILER=clang++-14 -DEGRESS_BENCH=OFF \
	      "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
	      -DEGRESS_FUZZ_SECONDS=$(FUZZ_SECONDS)
	cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzz_targets
	ctest --test-dir $(BUILD_FUZZ) --output-on-failure -L fuzz -j $(JOBS)

$(BUILD_PLAIN)/build.ninja: | deps
	cmake -S . -B $(BUILD_PLAIN) -G Ninja $(CCACHE) $(CMAKE_ARGS) -DEGRESS_ASIO_SHORTCUTS=OFF -DEGRESS_BENCH=OFF

## The unit and e2e tests against a build without the Asio shortcuts (what any Boost but 1.81 builds).
plain: deps $(BUILD_PLAIN)/build.ninja
	cmake --build $(BUILD_PLAIN) -j $(JOBS) --target unit_tests egressd egressctl
	ctest --test-dir $(BUILD_PLAIN) --output-on-failure -L unit -j $(JOBS)
	ctest --test-dir $(BUILD_PLAIN) --output-on-failure -L e2e

$(BUILD_CLANG)/build.ninja: | deps
	cmake -S . -B $(BUILD_CLANG) -G Ninja $(CCACHE) $(CMAKE_ARGS) -DCMAKE_CXX_COMPILER=clang++-14 \
	      -DCMAKE_BUILD_TYPE=Release -DEGRESS_BENCH=OFF

## A Release build with clang 14 (warnings are errors), and the unit tests against it: what a
## packager's optimised build and the other compiler see.
clang: deps $(BUILD_CLANG)/build.ninja
	cmake --build $(BUILD_CLANG) -j $(JOBS) --target unit_tests egressd egressctl
	ctest --test-dir $(BUILD_CLANG) --output-on-failure -L unit -j $(JOBS)

## The sandbox demo: allowed and denied connections through a real kernel redirect. Builds only
## egressd (the demo's clients and servers are curl and Python); `make test` builds the rest.
demo: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target egressd
	scripts/demo.sh $(BUILD)

bench: deps
	EGRESS_BENCH_DEPS=1 scripts/install-deps.sh
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_ARGS) && cmake --build $(BUILD) -j $(JOBS)
	bench/run.sh $(BUILD)

## The Debian package, built Release in its own directory: $(BUILD_PKG)/egressd_<version>_<arch>.deb.
package: deps
	cmake -S . -B $(BUILD_PKG) -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DEGRESS_BENCH=OFF $(CMAKE_ARGS)
	cmake --build $(BUILD_PKG) -j $(JOBS) --target package

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

check-format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run -Werror

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_TSAN) $(BUILD_FUZZ) $(BUILD_PKG) $(BUILD_PLAIN) $(BUILD_CLANG)
