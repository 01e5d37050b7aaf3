#!/bin/sh
# Make sure an nginx binary is available for the demo stack and the tests.
# Installs Debian's nginx-light when nginx is missing and we are root.
# --optional: only warn (the demo runs without nginx); otherwise a missing nginx fails.
optional=0
[ "$1" = "--optional" ] && optional=1
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "nginx is missing: installing Debian's nginx-light ..."
    export DEBIAN_FRONTEND=noninteractive
    if apt-get install -y -q nginx-light >/dev/null 2>&1 || \
       { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q nginx-light >/dev/null 2>&1; }; then
        # The package starts a system nginx on port 80; the demo and tests run their own.
        (service nginx stop || systemctl stop nginx || nginx -s quit) >/dev/null 2>&1 || true
        echo "nginx-light installed."
        exit 0
    fi
    echo "error: installing nginx-light with apt-get failed." >&2
else
    echo "nginx is not installed and we are not root (or have no apt-get)." >&2
    echo "Install it with:  sudo apt-get install nginx-light" >&2
fi
if [ "$optional" = "1" ]; then
    echo "The demo will run without nginx." >&2
    exit 0
fi
exit 1
