#!/bin/sh
# Make sure a program from a Debian package is available for the demo and the tests.
#   sh scripts/ensure-debian.sh PACKAGE BINARY [--optional] [--stop SERVICE]
# BINARY is a name on PATH or an absolute path (e.g. /usr/sbin/sshd). When it is missing and we
# are root with apt-get, PACKAGE is installed (without recommends); a system service the
# package starts is stopped again with --stop SERVICE (the demo and tests run their own).
# --optional: only warn when it cannot be had; otherwise a missing BINARY fails.
# Nothing else of the machine is changed (no config file is edited).
if [ $# -lt 2 ]; then
    echo "usage: $0 PACKAGE BINARY [--optional] [--stop SERVICE]" >&2
    exit 2
fi
package=$1
binary=$2
shift 2
optional=0
service=
while [ $# -gt 0 ]; do
    case "$1" in
        --optional) optional=1 ;;
        --stop) shift; service=$1 ;;
        *) echo "$0: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
found() {
    case "$binary" in
        /*) [ -x "$binary" ] ;;
        *) command -v "$binary" >/dev/null 2>&1 || [ -x "/usr/sbin/$binary" ] || [ -x "/usr/bin/$binary" ] ;;
    esac
}
if found; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "$binary is missing: installing Debian's $package ..."
    export DEBIAN_FRONTEND=noninteractive
    if apt-get install -y -q --no-install-recommends "$package" >/dev/null 2>&1 || \
       { apt-get update -q >/dev/null 2>&1 && \
         apt-get install -y -q --no-install-recommends "$package" >/dev/null 2>&1; }; then
        if [ -n "$service" ]; then
            (service "$service" stop || systemctl stop "$service") >/dev/null 2>&1 || true
        fi
        if found; then
            echo "$package installed."
            exit 0
        fi
        echo "error: $package is installed but $binary is still missing." >&2
    else
        echo "error: installing $package with apt-get failed." >&2
    fi
else
    echo "$binary is not installed and we are not root (or have no apt-get)." >&2
    echo "Install it with:  sudo apt-get install $package" >&2
fi
if [ "$optional" = "1" ]; then
    exit 0
fi
exit 1
