#!/bin/sh
# `make run`: molt's main job.
#
# First the test guests boot under the tcg accelerator (the hello guest and
# the memory dirtier with its self-check), printing on the serial port.
# molt starts as a future live-update destination would: its migration
# parameters come from `-incoming config:` at start-up, before any backend
# exists, and the memory backend reads them while it is created.  Then it
# is driven over QMP with moltctl: queries, the run state and its events,
# parameter changes and their checks.  Last, molt's main job, the live
# update (scripts/live_update_demo.py): the echo guest behind a TAP in a
# network namespace keeps answering a datagram every 10 ms while molt is
# replaced under it - a new process (cpr-transfer: guest RAM's memfd and
# the TAP fd handed over), then a new program (cpr-exec) - with each pause
# and the datagrams lost printed.
set -eu
build=${1:-build}
molt="$build/vmm/molt"
ctl="$build/cli/moltctl"
dir=$(mktemp -d /tmp/molt-demo.XXXXXX)
sock="$dir/qmp.sock"
cleanup() { "$ctl" -s "$sock" quit >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE   # so that EXIT's clean-up runs (e.g. make run | head)

step() { printf '\n\033[1m%s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@" || true; }

step "0. Boot the test guests under the tcg accelerator; their serial port is this terminal"
show "$molt" -m 64M -kernel "$build/tests/guests/guest-hello" -serial stdio -qmp "unix:$sock,server=on,wait=off" &
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
sleep 0.3
"$ctl" -s "$sock" quit
wait
show "$molt" -m 64M -kernel "$build/tests/guests/guest-dirtier" -append rounds=3 -serial stdio -qmp "unix:$sock,server=on,wait=off" &
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
for _ in $(seq 100); do "$ctl" -s "$sock" query-status >/dev/null 2>&1 && break; sleep 0.05; done
sleep 1
"$ctl" -s "$sock" quit
wait

step "1. Start molt with migration parameters from early boot (-global, then -incoming config: wins)"
set -- -S -d backends -qmp "unix:$sock,server=on,wait=off" \
    -object memory-backend-memfd,id=ram0,size=256M -machine memory-backend=ram0 \
    -global migration.downtime-limit=500 \
    -incoming 'config:downtime-limit=100,max-bandwidth=10G,backend-transfer.0=virtio-net-tap'
printf '$ molt %s\n' "$*"
"$molt" "$@" &
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

step "2. Ask it over QMP (moltctl types key=value arguments by introspection)"
show "$ctl" -s "$sock" query-status
printf '$ moltctl -s %s query-migrate-parameters | grep ...\n' "$sock"
"$ctl" -s "$sock" query-migrate-parameters | grep -E '^(mode|downtime-limit|max-bandwidth|backend-transfer):'
show "$ctl" -s "$sock" query-memdev

step "3. Run state and events: cont, stop (a second client follows the events)"
"$ctl" -s "$sock" events --count 2 --timeout 5 &
events=$!
sleep 0.2
show "$ctl" -s "$sock" cont
show "$ctl" -s "$sock" stop
wait $events || true

step "4. Change parameters; mistakes get QEMU's messages and change nothing"
show "$ctl" -s "$sock" migrate-set-parameters mode=cpr-transfer downtime-limit=50
show "$ctl" -s "$sock" migrate-set-parameters multifd-channels=0
show "$ctl" -s "$sock" migrate-set-capabilities capabilities.0.capability=return-path capabilities.0.state=off capabilities.1.capability=switchover-ack capabilities.1.state=on
"$ctl" -s "$sock" query-migrate-parameters | grep -E '^(mode|downtime-limit|multifd-channels|switchover-ack):'
show "$ctl" -s "$sock" quit
wait

step "5. A bad -incoming config: ends molt before anything is created"
show "$molt" -S -qmp "unix:$sock,server=on,wait=off" -incoming 'config:mode=live-update'
show "$molt" -S -incoming config:downtime-limit=1 -incoming config:downtime-limit=2
echo "files left behind: $(ls "$dir" | wc -l)"

step "6. The live update: a guest answering UDP through a TAP moves to a new molt process (cpr-transfer), then to a new program (cpr-exec)"
/usr/bin/python3 scripts/live_update_demo.py "$build"
