# eic-agent: build, test and benchmark. `make help` lists the targets.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN       := bin
LDFLAGS   := -s -w -X main.version=$(VERSION)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
CMDS      := $(notdir $(wildcard cmd/*))

.PHONY: help build test lint unit fuzz bench clean

help:
	@echo "make build   static binaries for every cmd/ into $(BIN)/"
	@echo "make test    gofmt, go vet and go test -race ./... (what CI runs)"
	@echo "make fuzz    run each fuzz target for FUZZTIME (default 20s)"
	@echo "make bench   benchmarks with -benchmem"

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/ ./cmd/...

test: lint unit

lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./agent/...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BIN) dist
