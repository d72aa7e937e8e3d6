#!/usr/bin/env bash
# The Debian package's unit under a real systemd, without starting anything on
# this host: a minimal Debian 12 (debootstrap) booted with systemd-nspawn and
# its own network namespace (--private-network: only a veth pair inside),
# the .deb installed in it, then, inside the container:
#   - installing neither enables nor starts vipd;
#   - systemctl start returns once vipd says READY=1 (data plane attached,
#     VRRP started), with the unit's capabilities and sandbox;
#   - systemctl reload (HUP) applies, `systemctl status` shows the outcome;
#   - USR1 writes /run/vipd/vipd.data (PrivateTmp);
#   - QUIT + start adopts the pinned data plane and resumes as MASTER;
#   - kill -9 is restarted after RestartSec; a broken file (exit 5) is not;
#   - starting vipd stops keepalived.service and the other way round, unless
#     the drop-in is masked;
#   - systemctl stop (TERM) detaches the program.
# Not part of CI (it downloads ~100 MB of Debian packages and boots a
# container); run it after changing packaging/vipd.service.
#
# usage (root): scripts/unit-in-container.sh [path/to/vipd_VERSION_amd64.deb]
set -euo pipefail
deb=${1:-$(ls -t target/debian/vipd_*_amd64.deb 2>/dev/null | head -1)}
[ -f "$deb" ] || { echo "no .deb: make deb first, or pass its path" >&2; exit 1; }
for p in systemd-container debootstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' \
    || apt-get install -y -q -o DPkg::Lock::Timeout=300 "$p"
done
root=$(mktemp -d /var/tmp/vipd-unit.XXXXXX)
nspawn_pid=
cleanup() {
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    # SIGRTMIN+4 to the container's systemd: power off.
    kill -s RTMIN+4 "$(pgrep -P "$nspawn_pid" | head -1)" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
    kill "$nspawn_pid" 2>/dev/null || true
  fi
  rm -rf "$root"
}
trap cleanup EXIT
inside() { nsenter -t "$(pgrep -P "$nspawn_pid" | head -1)" -a "$@"; }
fail() { echo "FAIL: $*" >&2; inside journalctl -u vipd -o cat --no-pager | tail -30 >&2 || true; exit 1; }
ok() { echo "ok: $*"; }
# Outputs are matched whole (grep -q on a pipe would fail the pipeline).
log() { inside journalctl -u vipd -o cat --no-pager; }
has() { grep -q -- "$2" <<<"$1"; }

debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,iproute2,init-system-helpers,procps \
  bookworm "$root" http://deb.debian.org/debian >/dev/null
cp "$deb" "$root/root/vipd.deb"
mkdir -p "$root/etc/keepalived"
cp examples/seed/keepalived-master.conf "$root/etc/keepalived/keepalived.conf"
# eth1 for the seed's file (a veth pair: no dummy module needed), a route to
# the real servers' LAN, and a stand-in keepalived.service for the conflict.
cat > "$root/etc/systemd/system/testnet.service" <<'EOF'
[Unit]
Before=vipd.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip link add eth1 type veth peer name eth1p
ExecStart=/sbin/ip link set eth1p up
ExecStart=/sbin/ip addr add 10.253.85.11/24 dev eth1
ExecStart=/sbin/ip link set eth1 up
ExecStart=/sbin/ip route add 10.253.26.0/24 via 10.253.85.1 dev eth1
[Install]
WantedBy=multi-user.target
EOF
ln -s /etc/systemd/system/testnet.service "$root/etc/systemd/system/multi-user.target.wants/"
printf '[Service]\nExecStart=/bin/sleep infinity\n' > "$root/etc/systemd/system/keepalived.service"
spawn=(systemd-nspawn -q -D "$root" --private-network --register=no --keep-unit)
# The Depends are in the tree already (apt would fetch them; the container
# has no network). nspawn without a systemd on the host may exit non-zero on
# its way out: judge the install by dpkg's database.
"${spawn[@]}" dpkg -i /root/vipd.deb >/dev/null 2>&1 || true
dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}' vipd | grep -q 'ok installed' \
  || { echo "FAIL: dpkg -i in the container" >&2; exit 1; }
# A bpffs for the QUIT restart's pins: nspawn gives the container no
# /sys/fs/bpf, vipd's fallback is /run/vipd/bpffs (mounted from outside below).
# nspawn's own seccomp filter blocks bpf() unless allowed.
"${spawn[@]}" --capability=CAP_BPF,CAP_PERFMON --system-call-filter='bpf perf_event_open' \
  --console=passive -b >/dev/null 2>&1 &
nspawn_pid=$!
for _ in $(seq 100); do
  st=$(inside systemctl is-system-running 2>/dev/null || true)
  case $st in running|degraded) break ;; esac
  sleep 0.2
done
[ "$(inside systemctl is-active testnet)" = active ] || fail "testnet did not come up"

[ "$(inside systemctl is-enabled vipd || true)" = disabled ] || fail "installing enabled vipd"
[ "$(inside systemctl is-active vipd || true)" = inactive ] || fail "installing started vipd"
ok "installed, neither enabled nor started"

t0=$(date +%s.%N)
inside systemctl start vipd || fail "systemctl start vipd"
t1=$(date +%s.%N)
has "$(log)" 'vipd .* started (pid' || fail "start returned before READY"
has "$(inside systemctl show vipd -p StatusText)" 'StatusText=running: ' || fail "no STATUS="
ok "systemctl start returned after READY=1 ($(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s)"

inside systemctl reload vipd || fail reload
sleep 0.5
has "$(inside systemctl show vipd -p StatusText)" 'reload applied' || fail "no reload outcome"
ok "reload: $(inside systemctl show vipd -p StatusText)"

inside systemctl kill -s USR1 --kill-who=main vipd
sleep 0.5
inside test -s /run/vipd/vipd.data || fail "no USR1 dump in /run/vipd"
ok "USR1 dump in /run/vipd"

for _ in $(seq 100); do has "$(inside vipd status)" ' MASTER ' && break; sleep 0.1; done
inside sh -c 'mkdir -p /run/vipd/bpffs && mount -t bpf bpf /run/vipd/bpffs'
inside systemctl kill -s QUIT --kill-who=main vipd
for _ in $(seq 50); do [ "$(inside systemctl is-active vipd || true)" = inactive ] && break; sleep 0.1; done
inside systemctl start vipd || fail "start after QUIT"
has "$(log)" 'swapped onto the pinned link' || fail "not adopted"
has "$(inside vipd status)" ' MASTER ' || fail "not MASTER after the QUIT restart"
ok "QUIT + start: data plane adopted, still MASTER"

inside systemctl kill -s KILL --kill-who=main vipd
sleep 1
[ "$(inside systemctl is-active vipd || true)" = activating ] || fail "no auto-restart pending after kill -9"
# RestartSec=5s, then ~3 s to READY=1.
for _ in $(seq 150); do [ "$(inside systemctl is-active vipd || true)" = active ] && break; sleep 0.1; done
[ "$(inside systemctl is-active vipd || true)" = active ] || fail "not restarted after kill -9"
ok "restarted after kill -9"

inside systemctl start keepalived
[ "$(inside systemctl is-active vipd || true)" = inactive ] || fail "keepalived did not stop vipd"
inside systemctl start vipd
[ "$(inside systemctl is-active keepalived || true)" = inactive ] || fail "vipd did not stop keepalived"
ok "vipd.service and keepalived.service conflict"
inside sh -c 'mkdir -p /etc/systemd/system/vipd.service.d &&
  ln -s /dev/null /etc/systemd/system/vipd.service.d/keepalived.conf && systemctl daemon-reload'
inside systemctl start keepalived
[ "$(inside systemctl is-active vipd)" = active ] || fail "masked drop-in: vipd stopped"
inside systemctl stop keepalived
ok "masking the drop-in lets both run"

inside systemctl stop vipd
[ "$(inside systemctl is-active vipd || true)" = inactive ] || fail "stop"
has "$(log)" 'SIGTERM: stopping' || fail "stop without SIGTERM"
ok "stop (TERM): $(log | grep 'detached' | tail -1 | cut -c29-)"

inside sh -c 'echo "vrrp_instance X { virtual_router_id 999 }" >> /etc/keepalived/keepalived.conf'
inside systemctl start vipd 2>/dev/null && fail "started with a broken file"
sleep 7
has "$(inside systemctl show vipd -p ExecMainStatus)" '=5$' || fail "exit status is not 5"
[ "$(inside systemctl is-active vipd || true)" = failed ] || fail "a broken file was retried"
ok "a broken file: exit 5, not retried"
echo "exposure: $(inside systemd-analyze security vipd --no-pager | tail -1)"
echo "all ok"
