# vipd: the two commands a new user needs, as root on a fresh Debian machine:
#   make demo   - build vipd and run the lab demo (the seed's story)
#   make test   - install what is missing, then run every test (unit, lab, interop)
# Both install missing Debian packages themselves (see `deps`).

CARGO ?= cargo
APT_PACKAGES = clang llvm libbpf-dev bpftool iproute2 ethtool keepalived tcpdump \
	wrk haproxy nftables nginx-light iputils-ping arping curl linux-libc-dev gcc-multilib \
	hping3 python3 dnsmasq-base
export DEBIAN_FRONTEND = noninteractive

.PHONY: deps build demo test lint bench fuzz apt-packages

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

test: deps
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
