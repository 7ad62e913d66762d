# AYA: a DNS-based global server load balancer.
# `make help` lists the targets.

GO       ?= go
BIN      := bin/aya
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
# The time of the last commit: the mtime of every file in the release archives.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
DIST     ?= dist
LDFLAGS  := -X github.com/aya-gslb/aya.Version=$(VERSION) -X github.com/aya-gslb/aya.Commit=$(COMMIT)
FUZZTIME ?= 1m
GOLANGCI := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

.DEFAULT_GOAL := help
.PHONY: help build run demo test race fuzz bench bench-go bench-dns bench-proxy lint check release

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## Build bin/aya
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/aya

release: ## Reproducible static archives for linux/amd64 and linux/arm64, and SHA256SUMS, in dist/
	VERSION=$(VERSION) COMMIT=$(COMMIT) SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) DIST=$(DIST) GO=$(GO) bash deploy/release.sh

run: build ## Serve the repo's zones/ with the shipped aya.yaml (one node, loopback)
	@echo "aya: serving zones/ on 127.0.0.1:5300 (admin on http://127.0.0.1:9053/metrics); try:"
	@echo "  dig @127.0.0.1 -p 5300 www.gslb.example.com A +norec"
	./$(BIN) serve --config aya.yaml

demo: build ## Three sites, three regions with a proxy and two backends each, on loopback (Ctrl-C stops it)
	./$(BIN) demo

check: build ## Check aya.yaml and every zone file (exit 1 with file:line on errors)
	./$(BIN) check --config aya.yaml

test: ## Vet, then every test with the race detector
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

race: test ## Same as test

fuzz: ## Run every fuzz target for FUZZTIME each (default 1m)
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

bench: bench-go bench-dns ## Go benchmarks, then the dnsperf comparison with Knot DNS and gdnsd

bench-go: ## Go benchmarks of the query path (allocations included)
	$(GO) test -run='^$$' -bench=. -benchmem ./...

bench-dns: ## dnsperf against AYA, Knot DNS and gdnsd on loopback (installs them; see bench/dns/README.md)
	bash bench/dns/run.sh

bench-proxy: build ## AYA's proxy vs HAProxy and nginx with wrk (installs them from apt)
	bash bench/proxy/run.sh

lint: ## golangci-lint (from the Go module proxy) with .golangci.yml
	$(GO) run $(GOLANGCI) run ./...
