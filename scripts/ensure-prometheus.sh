#!/bin/sh
# Make sure promtool is available for the tests (contrib/ rules and the exporter's output are
# checked with it). Installs Debian's prometheus package when promtool is missing and we are
# root; otherwise a missing promtool fails.
if command -v promtool >/dev/null 2>&1 || [ -x /usr/bin/promtool ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "promtool is missing: installing Debian's prometheus ..."
    export DEBIAN_FRONTEND=noninteractive
    if apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 || \
       { apt-get update -q >/dev/null 2>&1 && \
         apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1; }; then
        # The package starts a system Prometheus; the tests only need promtool.
        (service prometheus stop || systemctl stop prometheus) >/dev/null 2>&1 || true
        echo "prometheus installed (promtool)."
        exit 0
    fi
    echo "error: installing prometheus with apt-get failed." >&2
else
    echo "promtool is not installed and we are not root (or have no apt-get)." >&2
    echo "Install it with:  sudo apt-get install prometheus" >&2
fi
exit 1
