#!/bin/sh
# `make run`: molt's main job, as far as it is built today.
#
# The machine, the QMP monitor and live update arrive with the issues that
# build them (see the issue list); until then this shows the path every
# live update starts on: a destination's `-incoming config:` string is
# parsed, checked and explained by the code generated from
# schema/migration.json, exactly as the VMM will read it.
set -eu
build=${1:-build}
kv="$build/cli/molt-keyval"

# Prints the command line (the STRING argument quoted), then runs it.
show() {
    printf "\n\$ molt-keyval %s %s '%s'\n" "$1" "$2" "$3"
    "$kv" "$@" || true
}

echo "molt: live-update parameters of a cpr-transfer destination, checked before start"
show --type MigrationParameters 'mode=cpr-transfer,backend-transfer.0=virtio-net-tap,max-bandwidth=10G,downtime-limit=300'
show --type MigrationParameters '{"mode": "cpr-exec", "cpr-exec-command": ["molt", "-incoming", "defer"]}'
echo
echo "Mistakes are caught with QEMU's messages, before anything is created:"
show --type MigrationParameters 'mode=cpr-transfer,multifd-channels=0'
show --type MigrationParameters 'mode=live-update'
show --type MigrationParameters 'cpu-throttle-initial=60,max-cpu-throttle=40'
echo
echo "And every parameter is documented from the schema:"
printf '\n$ molt-keyval --type MigrationParameters help | head -8\n'
"$kv" --type MigrationParameters help | head -8
echo
echo "(The VMM itself - boot, QMP, cpr-transfer - comes with the next issues; make run grows with it.)"
