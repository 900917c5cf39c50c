# The targets the README names. `make ci` is what CI runs.

STATICCHECK := go run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: run test lint build ci fuzz bench

# Run Reins on the embedded SQLite default: ./data, port 8000.
run:
	go run ./cmd/reins serve

# The Postgres half runs when TEST_DATABASE_URL is set. The race detector slows the pure-Go
# SQLite engine about thirty-fold, so the 100,000-row SQLite import and the README's
# walkthrough (100,000 customers) also run without it.
test:
	go test -race -count=1 -timeout 30m ./...
	go test -count=1 -run 'TestImportE2E|TestReadmeWalkthrough' ./cmd/reins/

lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt:"; echo "$$out"; exit 1; fi
	go vet ./...
	$(STATICCHECK) ./...

# Each fuzz target for FUZZTIME (go test runs one target at a time). The corpora are
# committed in each package's testdata/fuzz; a failing input is written there too.
# A count, not a duration: with a duration, Go 1.26's fuzz coordinator may report the end of
# the time as "context deadline exceeded" on a busy machine (go.dev/issue/75804, fixed in
# Go 1.27), failing a run that found nothing.
FUZZTIME ?= 20000x
FUZZ_TARGETS := csvimport:FuzzSheet csvexport:FuzzParseParams http:FuzzBodyValues http:FuzzJobID http:FuzzFileName http:FuzzTokens sqlite:FuzzCSVField

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	done

build:
	go build -o bin/reins ./cmd/reins

# The benchmark (docs/benchmarks.md): all of issue 11's figures in one run, on a schema of
# its own in BENCH_DATABASE_URL (default $$TEST_DATABASE_URL). The default sizes (1M rows,
# 5M for the range export, 100k/1M/10M scales) take about 11 minutes on a quiet two-core
# machine and far longer on a loaded one; BENCH_ARGS adds flags, e.g.
# BENCH_ARGS='--scales 100000,1000000 --big-rows 0'.
BENCH_DATABASE_URL ?= $(TEST_DATABASE_URL)
bench:
	go run ./cmd/reins-bench --database-url '$(BENCH_DATABASE_URL)' $(BENCH_ARGS)

ci:
	bash .ci/run
