# egressd: `make demo` and `make test` are the two commands a newcomer needs.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_PKG  ?= build-package
# Warnings are errors for developers and CI (a plain cmake build, as a packager's, leaves it off).
CMAKE_ARGS ?= -DEGRESS_WERROR=ON
JOBS       ?= $(shell nproc)

.PHONY: all deps build test unit e2e demo asan bench package format check-format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_ARGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

## Every test: unit, policy examples, deployment files, end-to-end namespace sandbox. Ends with ctest's summary.
test: build
	ctest --test-dir $(BUILD) --output-on-failure -j 1

unit: build
	ctest --test-dir $(BUILD) --output-on-failure -L unit -j $(JOBS)

e2e: build
	ctest --test-dir $(BUILD) --output-on-failure -L e2e

## Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DEGRESS_SANITIZE=ON -DEGRESS_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	ctest --test-dir $(BUILD_ASAN) --output-on-failure -L unit -j $(JOBS)

## The sandbox demo: allowed and denied connections through a real kernel redirect.
demo: build
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
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_PKG)
