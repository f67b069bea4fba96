# Convenience wrapper; the scripts are the source of truth (they need nothing but bash).
.PHONY: all deps build test run clean
all: build
deps:
	bash scripts/install-deps.sh
build:
	bash scripts/build.sh
test:
	bash scripts/test.sh
run:
	bash scripts/run.sh
clean:
	rm -rf build
