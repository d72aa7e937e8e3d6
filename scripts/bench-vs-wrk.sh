#!/usr/bin/env bash
# vipd bench against wrk on the same target in the same run: nginx-light on
# 127.0.0.1 (random port, own config/pid/logs in a temp dir, stopped by PID),
# rounds alternating the two tools, keep-alive and new connection per request.
# Prints per round: requests/s and the load generator's own CPU per request
# (user + sys from /usr/bin/time), and the median rate ratio vipd/wrk.
#
# usage: scripts/bench-vs-wrk.sh [ROUNDS=5] [SECONDS=5] [CLIENTS=64]
set -euo pipefail
ROUNDS=${1:-5}; SECS=${2:-5}; CLIENTS=${3:-64}
VIPD=${VIPD:-./target/release/vipd}
for t in wrk nginx /usr/bin/time; do
  command -v "$t" >/dev/null || [ -x "$t" ] || [ -x "/usr/sbin/$t" ] || { echo "missing $t: apt-get install -y wrk nginx-light time" >&2; exit 1; }
done
[ -x "$VIPD" ] || { echo "build first: cargo build --release (or set VIPD=path)" >&2; exit 1; }
dir=$(mktemp -d /tmp/vipd-bench-vs-wrk.XXXXXX)
port=$((20000 + RANDOM % 20000))
mkdir -p "$dir/html"; head -c 612 /dev/zero | tr '\0' 'n' > "$dir/html/index.html"
cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir; uwsgi_temp_path $dir; scgi_temp_path $dir;
  server { listen 127.0.0.1:$port backlog=4096; root $dir/html; }
}
CONF
nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
stop() { [ -f "$dir/nginx.pid" ] && kill -QUIT "$(cat "$dir/nginx.pid")" 2>/dev/null; sleep 0.3; rm -rf "$dir"; }
trap stop EXIT
sleep 0.3
url="http://127.0.0.1:$port/"
clear_tw() { ss -K state time-wait "( sport = :$port or dport = :$port )" >/dev/null 2>&1 || true; sleep 0.3; }
echo "target: nginx $(nginx -v 2>&1 | cut -d/ -f2) on $url, $CLIENTS connections, $SECS s runs, $ROUNDS rounds"
for mode in keep-alive new-conn; do
  if [ $mode = keep-alive ]; then wh=(); va=(-k); else wh=(-H "Connection: close"); va=(); fi
  ratios=()
  for i in $(seq "$ROUNDS"); do
    clear_tw
    w=$( { /usr/bin/time -f "CPU %U %S" wrk -t2 -c"$CLIENTS" -d"${SECS}s" "${wh[@]}" "$url"; } 2>&1 |
      awk '/Requests\/sec/{r=$2} /^ +[0-9]+ requests in/{n=$1} /^CPU/{c=$2+$3} END{printf "%.0f %.1f", r, c*1e6/n}')
    clear_tw
    v=$( { /usr/bin/time -f "CPU %U %S" "$VIPD" bench -c "$CLIENTS" -t "$SECS" --json "${va[@]}" "$url"; } 2>&1 |
      awk -F'[:,]' '/"requests_per_sec"/{r=$2} /"succeeded"/{n=$2} /^CPU/{split($0,a," "); c=a[2]+a[3]} END{printf "%.0f %.1f", r, c*1e6/n}')
    read -r wr wc <<<"$w"; read -r vr vc <<<"$v"
    ratio=$(awk -v a="$vr" -v b="$wr" 'BEGIN{printf "%.2f", a/b}')
    ratios+=("$ratio")
    printf '%-10s round %d: wrk %7d req/s %5.1f us/req | vipd bench %7d req/s %5.1f us/req | ratio %s\n' \
      "$mode" "$i" "$wr" "$wc" "$vr" "$vc" "$ratio"
  done
  printf '%-10s median ratio vipd/wrk: %s\n' "$mode" "$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}')"
done
