# vipd: the two commands a new user needs, as root on a fresh Debian machine:
#   make demo   - build vipd and run the lab demo (the seed's story)
#   make test   - install what is missing, then run every test (unit, lab, interop)
# Both install missing Debian packages themselves (see `deps`).

CARGO ?= cargo
APT_PACKAGES = clang llvm libbpf-dev bpftool iproute2 ethtool keepalived tcpdump \
	wrk haproxy nftables nginx-light iputils-ping arping curl linux-libc-dev gcc-multilib \
	hping3 python3 dnsmasq-base bird2 systemd man-db dpkg-dev openssl
export DEBIAN_FRONTEND = noninteractive

.PHONY: deps build demo test lint bench fuzz apt-packages deb cargo-deb

# The list, for .ci/run.
apt-packages:
	@echo $(APT_PACKAGES)

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q && apt-get install -y -q -o DPkg::Lock::Timeout=300 $$missing; \
	fi
	@command -v cargo >/dev/null || { echo "error: cargo not found: install Rust (rustup) first"; exit 1; }
	@rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy || true

build: deps
	$(CARGO) build --release

demo: build
	./target/release/vipd lab demo

test: deps cargo-deb
	$(CARGO) test --workspace -- --test-threads=2

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Fuzz the keepalived.conf front end (needs: rustup toolchain install nightly;
# cargo install cargo-fuzz). FUZZ_SECONDS bounds the run.
FUZZ_SECONDS ?= 600
fuzz-config:
	mkdir -p fuzz/corpus/config
	cp examples/seed/*.conf testdata/keepalived-samples/* crates/vipd/tests/config_golden/*.conf fuzz/corpus/config/
	cd fuzz && cargo +nightly fuzz run config corpus/config -- -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10

# Fuzz the VRRP decoder and state machine (same needs as fuzz-config).
fuzz-vrrp:
	mkdir -p fuzz/corpus/vrrp
	cd fuzz && cargo +nightly fuzz run vrrp corpus/vrrp -- -max_total_time=$(FUZZ_SECONDS) -max_len=512

# Fuzz the connection-sync decoder and receive path (same needs as fuzz-config).
fuzz-sync:
	mkdir -p fuzz/corpus/sync
	cd fuzz && cargo +nightly fuzz run sync corpus/sync -- -max_total_time=$(FUZZ_SECONDS) -max_len=2048

# VRRP failover times, vipd and keepalived in the same lab run (~12 min, root):
# the table in docs/BENCHMARKS.md.
.PHONY: bench-vrrp
bench-vrrp: deps
	$(CARGO) test -p vipd --test vrrp_interop failover_benchmark -- --ignored --nocapture

# The side-by-side comparison (root): direct vs HAProxy vs nftables (vs vipd) in a
# lab of its own; rewrites the generated section of docs/BENCHMARKS.md and its chart.
bench: build
	./target/release/vipd compare --rounds 3 --time 10 --docs docs/BENCHMARKS.md

# The Debian package: target/debian/vipd_VERSION-1_amd64.deb with the binary
# (/usr/sbin/vipd), the systemd unit (packaging/), man pages and shell
# completions generated from the clap definitions (`vipd generate`), and the
# seed's examples. docs/OPERATIONS.md, "Installing the Debian package".
# DEB_PROFILE=dev packages the debug build instead of a release build (the
# packaging test does, to reuse the build `cargo test` made); DEB_OUT is where
# the .deb goes.
DEB_PROFILE ?= release
DEB_TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
DEB_PROFILE_DIR := $(if $(filter dev test,$(DEB_PROFILE)),debug,$(DEB_PROFILE))
DEB_OUT ?= $(DEB_TARGET_DIR)/debian
DEB_GEN := $(DEB_TARGET_DIR)/$(DEB_PROFILE_DIR)/packaging
DEB_VIPD := $(DEB_TARGET_DIR)/$(DEB_PROFILE_DIR)/vipd

cargo-deb:
	@command -v cargo-deb >/dev/null || $(CARGO) install cargo-deb --locked --version '^3.8'

deb: deps cargo-deb
	$(CARGO) build --locked -p vipd --profile $(DEB_PROFILE)
	rm -rf $(DEB_GEN)
	mkdir -p $(DEB_GEN)/completions
	$(DEB_VIPD) generate man $(DEB_GEN)/man >/dev/null
	gzip -9nf $(DEB_GEN)/man/*
	$(DEB_VIPD) generate completions bash > $(DEB_GEN)/completions/vipd.bash
	$(DEB_VIPD) generate completions zsh > $(DEB_GEN)/completions/_vipd
	$(DEB_VIPD) generate completions fish > $(DEB_GEN)/completions/vipd.fish
	mkdir -p $(DEB_OUT)
	$(CARGO) deb -p vipd --no-build --profile $(DEB_PROFILE) --strip -o $(DEB_OUT)/
