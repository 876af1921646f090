#!/bin/sh
# The nested KVM lane's test command: runs inside the TCG guest (L1),
# chrooted into the host's root (init.sh), so the build tree, Python and
# pytest are the host's at the same paths, while /dev/kvm is L1's real KVM.
# It runs molt's KVM subset with KVM required (MOLT_REQUIRE_KVM=1: a test
# that cannot open /dev/kvm fails instead of skipping): the hw unit test
# cases whose names contain "kvm" (doctest filters are case-insensitive) and
# the integration tests whose pytest ids contain "kvm" (those parametrised
# by accelerator).  run.py reads their summary lines from the console.
#
# Environment (set by run.py): MOLT, MOLT_GUESTS, MOLT_KEYVAL, MOLTCTL as
# for the integration lane, MOLT_TEST_HW (the hw doctest executable),
# MOLT_INTEGRATION (tests/integration in the source tree).
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Guests run far slower under nested KVM in TCG: timeouts scale (molt_harness.time_scale).
export MOLT_REQUIRE_KVM=1 MOLT_TIME_SCALE=4 PYTHONDONTWRITEBYTECODE=1
stage() { echo "NESTED-STAGE $1 uptime=$(cut -d' ' -f1 /proc/uptime)"; }

ip link set lo up
rc=0
stage unit
timeout 300 "$MOLT_TEST_HW" --test-case='*kvm*' --no-colors=true || rc=1
stage integration
cd "$MOLT_INTEGRATION" &&
    timeout 600 python3 -m pytest -v -rfEs -k "kvm ${NESTED_KVM_SELECT:+and ($NESTED_KVM_SELECT)}" \
        -p no:cacheprovider --color=no \
        -o console_output_style=classic . || rc=1
stage finished
exit $rc
