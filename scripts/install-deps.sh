#!/bin/sh
# Installs the Debian packages molt needs to build and test, and only those
# that are missing.  Idempotent: a second run changes nothing and is quick.
# Called by `make run`, `make check` and `make bench`; safe to run by hand.
#
# Usage: scripts/install-deps.sh [--check]
#   --check   only report what is missing (exit 1 if anything is)
set -eu

# The packages, one per line: what the build, the tests and the benches use
# (qemu-system-x86 is the peer: QMP replies are compared with QEMU 7.2's,
# and the benchmarks run side by side with it).  The nested KVM lane
# (tests/nested-kvm) boots linux-image-amd64's kernel in qemu-system-x86
# with busybox-static as its initramfs userland; the Linux guest test
# packs its initramfs with cpio.  clang (with its sanitizer and libFuzzer
# runtimes) builds the sanitizer and fuzzing lanes (fuzz/README.md).
packages="
meson
ninja-build
g++
pkg-config
python3
python3-jinja2
python3-pytest
python3-mypy
flake8
rapidjson-dev
doctest-dev
libunicorn-dev
libfdt-dev
device-tree-compiler
iproute2
qemu-system-x86
linux-image-amd64
busybox-static
cpio
clang
libclang-rt-14-dev
"

missing=""
for p in $packages; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
    exit 0
fi
if [ "${1:-}" = --check ]; then
    echo "missing:$missing"
    exit 1
fi

echo "install-deps: installing$missing"
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "install-deps: need root (or sudo) to install:$missing" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
