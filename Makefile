# Airlock: `make run` starts everything on this host; `make test` runs every
# test. Both install and start what they need (Docker) when it is missing.

GO        ?= go
BIN       := bin/airlock
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.Version=$(VERSION)
# Executions, not seconds: with a duration, Go 1.26's fuzz coordinator can
# fail a clean run with "context deadline exceeded" as the time runs out
# (golang/go#75804, fixed in Go 1.27). 50000 runs take 2-15 s a target here.
FUZZTIME  ?= 50000x
export CGO_ENABLED := 0

# AIRLOCK_SANDBOXED=1 makes `make run` and `make test` set up gVisor first
# (the sandboxed isolation level; see `make sandboxed`), and makes the tests
# that need runsc run instead of skipping. Default off.
AIRLOCK_SANDBOXED ?= 0
ifeq ($(AIRLOCK_SANDBOXED),1)
SANDBOXED_DEP := sandboxed
export AIRLOCK_TEST_SANDBOXED := 1
endif

.PHONY: build run test unit fuzz lint bench images images-chromium docker sandboxed clean

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/airlock

# Docker: install docker.io and start dockerd when no daemon answers.
docker:
	@bash scripts/ensure-docker.sh

# gVisor for sandboxed sessions: builds the pinned runsc and registers it
# with dockerd (scripts/ensure-gvisor.sh; a no-op once done).
sandboxed: docker
	bash scripts/ensure-gvisor.sh

images: build docker
	$(BIN) images

# The Chromium workspace (about 2 minutes the first time): a Debian base
# made locally when no registry answers, then the image.
images-chromium: build docker
	bash scripts/build-base-image.sh
	$(BIN) images --chromium

# The Chromium workspace's image is (re)built when it is missing or was
# built from another airlock binary (its label airlock.binary is the
# binary's SHA-256); `airlock up` builds only the minimal image itself.
run: build images $(SANDBOXED_DEP)
	@want=$$(sha256sum $(BIN) | cut -d' ' -f1); \
	have=$$(docker image inspect -f '{{index .Config.Labels "airlock.binary"}}' airlock/chromium:latest 2>/dev/null || true); \
	if [ "$$have" != "$$want" ]; then $(MAKE) --no-print-directory images-chromium; fi
	$(BIN) up --data ./data

# Tests run on a real dockerd, a real PostgreSQL, a real Xvfb and a real
# headless Chromium (the browser test), all installed and started here.
# Artifacts (the browser test's screenshots) are kept under $(ARTIFACTS).
ARTIFACTS ?= $(CURDIR)/artifacts
test: docker lint $(SANDBOXED_DEP)
	bash scripts/ensure-xvfb.sh
	bash scripts/ensure-chromium.sh
	mkdir -p $(ARTIFACTS)
	AIRLOCK_TEST_POSTGRES="$$(bash scripts/ensure-postgres.sh)" && export AIRLOCK_TEST_POSTGRES && \
	AIRLOCK_TEST_HYDRA="$$(bash scripts/ensure-hydra.sh)" && export AIRLOCK_TEST_HYDRA && \
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 25m -skip '^TestBrowser' $$($(GO) list ./... | grep -v '/internal/portal$$')
	@# The browser tests (TestBrowser*, and the portal's, which drive
	@# Chromium too) run alone: Chromium aborts its requests with
	@# ERR_NETWORK_CHANGED whenever the containers of other packages'
	@# tests add or remove network interfaces on this host.
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 25m -run '^TestBrowser' -artifacts -outputdir $(ARTIFACTS) ./cmd/airlock
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 25m ./internal/portal
	$(MAKE) --no-print-directory fuzz

# A short run of every fuzz target; longer runs: make fuzz FUZZTIME=5000000x
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

bench: docker
	$(GO) run ./bench/provision
	$(GO) run ./bench/launch
	$(GO) run ./bench/stream
	$(GO) run ./bench/soak
	$(GO) run ./bench/door
	$(GO) run ./bench/reconcile
	$(GO) run ./bench/signal
	@# Again with the soft memory limit a relay in a 300 MB budget runs with.
	$(GO) run ./bench/signal -relay-memlimit 260MiB
	$(GO) run ./bench/gateway
	$(GO) run ./bench/split
	$(GO) run ./bench/place

clean:
	rm -rf bin
