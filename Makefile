# eic-agent: build, test and benchmark. `make help` lists the targets.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN       := bin
LDFLAGS   := -s -w -X main.version=$(VERSION)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
CMDS      := $(notdir $(wildcard cmd/*))

.PHONY: help build test lint unit fuzz bench clean e2e e2e-deps demo units-check nspawn nspawn-deps vectors man-check packages packages-check packages-deps

# Every target is listed here (packaging/makefile_test.go checks it, and that the CI line is
# exactly the make commands .ci/run runs, in order).
help:
	@echo "make help           this list"
	@echo "make build          static binaries for every cmd/ into $(BIN)/"
	@echo "make test           lint, then unit"
	@echo "make lint           gofmt and go vet"
	@echo "make unit           go test -race ./... (needs gcc for cgo; EIC_NO_SKIPS=1 fails on a skipped test)"
	@echo "make fuzz           run each fuzz target for FUZZTIME (default 20s)"
	@echo "make bench          benchmarks with -benchmem"
	@echo "make vectors        regenerate the OpenSSL-made signer and key bundle test vectors (commit them)"
	@echo "make man-check      mandoc -T lint and man --warnings on docs/man/"
	@echo "make demo           (root) a real sshd login against the emulator, in private namespaces"
	@echo "make e2e            (root) the end-to-end login tests with real sshd and ssh"
	@echo "make e2e-deps       (root) apt-get install what e2e and demo need"
	@echo "make units-check    systemd-analyze verify + security (exposure <= 2.0) of systemd/"
	@echo "make nspawn         (root) the units, the .deb/.rpm and README's image block in booted Debian containers (systemd-nspawn)"
	@echo "make nspawn-deps    (root) apt-get install what nspawn needs"
	@echo "make packages       .deb and .rpm for amd64 and arm64 into dist/ (go tool nfpm)"
	@echo "make packages-check build them and check metadata, file lists, man pages, lintian, rpmlint, shellcheck"
	@echo "make packages-deps  (root) apt-get install what packages-check needs"
	@echo "make clean          remove $(BIN)/ and dist/"
	@echo "CI (.ci/run) runs: make e2e-deps, make test, make units-check, make packages-check, make e2e, make nspawn"

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/ ./cmd/...

test: lint unit

lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The race detector needs cgo (and so a C compiler): .ci/run installs gcc and libc6-dev.
unit:
	GO=$(GO) sh .ci/unit

FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./agent/...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The OpenSSL-made test vectors (openssl and ssh-keygen only). The outputs are committed; the
# manifests beside them (agent/signer/testdata/*.tsv, cmd/eic-authorized-keys/testdata/bundles.tsv)
# are kept by hand. Regenerating changes every key, not what any case must do.
vectors:
	sh agent/signer/testdata/mkvectors.sh agent/signer/testdata/vectors cmd/eic-authorized-keys/testdata/vectors

# The systemd units must verify without a warning and keep an exposure of 2.0 or lower.
units-check:
	EIC_REQUIRE_SYSTEMD_ANALYZE=1 $(GO) test -count=1 -v ./systemd

# Packages the end-to-end tests and the demo use (shellcheck: the maintainer scripts' test; awscli:
# the demo and one e2e test push with the real AWS CLI). .ci/apt-deps installs the missing ones
# without starting any service, and disables again a unit a newly installed package enabled
# (openssh-server's ssh.service), so the host's services stay as they were.
E2E_PACKAGES := openssh-server openssh-client iproute2 libnss-extrausers shellcheck awscli
e2e-deps:
	@sh .ci/apt-deps $(E2E_PACKAGES)

e2e: e2e-deps
	EIC_E2E_REQUIRE_AWS=1 $(GO) test -tags e2e -count=1 -v ./agent/testenv/

demo: e2e-deps build
	$(BIN)/eic-demo --bin $(BIN)

# Packages `make nspawn` needs: systemd-nspawn, and debootstrap for the first run (the Debian 11,
# 12 and 13 roots are cached in EIC_NSPAWN_CACHE, default /var/tmp/eic-nspawn/<suite>).
# debian-archive-keyring lets debootstrap check the suites' signatures on Ubuntu hosts too;
# awscli and openssh-client are what README's "Test your image's login path locally" runs on the host.
NSPAWN_PACKAGES := systemd-container debootstrap debian-archive-keyring awscli openssh-client
nspawn-deps:
	@sh .ci/apt-deps $(NSPAWN_PACKAGES)

# The units test and the package suite's three Debian releases boot side by side (-parallel 4):
# the containers wait on I/O and on sshd far more than on the CPU. The suite builds the packages
# it installs itself (make packages into temporary DIST directories).
nspawn: nspawn-deps
	EIC_NSPAWN_REQUIRE=1 $(GO) test -tags nspawn -count=1 -v -parallel 4 -timeout 30m ./agent/testenv/nspawn/

# The manual pages, written in mdoc by hand; shipped gzipped by `make packages`.
MAN_PAGES := $(wildcard docs/man/*.[1-8])

# mandoc -T lint and man --warnings on every page (packaging/man_test.go; packages-check runs it
# too). A missing tool fails the check.
man-check:
	EIC_PACKAGES_REQUIRE=1 $(GO) test -tags packages -count=1 -run '^TestManPages$$' -v ./packaging/

# Packages: static binaries per GOARCH into dist/build/$arch, then nfpm.yaml per format. The
# version comes from the nearest vX.Y.Z tag or the VERSION file (packaging/version.sh); the
# binaries carry the same version as the packages.
PKG_VERSION ?= $(shell sh packaging/version.sh)
PKG_ARCHES  := amd64 arm64
DIST        := dist
packages:
	@test -n "$(PKG_VERSION)" || { echo "make packages: no version; see packaging/version.sh"; exit 1; }
	rm -rf $(DIST)
	@mkdir -p $(DIST)/build
	gzip -9n < packaging/changelog > $(DIST)/build/changelog.gz
	@mkdir -p $(DIST)/build/man
	@for page in $(MAN_PAGES); do gzip -9n < $$page > $(DIST)/build/man/$$(basename $$page).gz; done
	@set -e; for arch in $(PKG_ARCHES); do \
	  echo "== $$arch $(PKG_VERSION)"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '-s -w -X main.version=$(PKG_VERSION)' \
	    -o $(DIST)/build/$$arch/ ./cmd/eic-authorized-keys ./cmd/eic-agent; \
	  for fmt in deb rpm; do PKG_BUILD=$(DIST)/build PKG_ARCH=$$arch PKG_VERSION=$(PKG_VERSION) $(GO) tool nfpm package -f nfpm.yaml -p $$fmt -t $(DIST)/; done; \
	done

# Tools packages-check runs: dpkg-deb (dpkg-dev), lintian, rpm, rpmlint, shellcheck,
# qemu-user-static for the arm64 binaries, and mandoc and man-db for the manual pages.
PKG_CHECK_PACKAGES := dpkg-dev lintian rpm rpmlint shellcheck qemu-user-static mandoc man-db
packages-deps:
	@sh .ci/apt-deps $(PKG_CHECK_PACKAGES)

# A missing tool fails the check (EIC_PACKAGES_REQUIRE=1), it never skips.
packages-check: packages-deps packages
	PKG_VERSION=$(PKG_VERSION) EIC_PACKAGES_REQUIRE=1 $(GO) test -tags packages -count=1 -v ./packaging/

clean:
	rm -rf $(BIN) dist
