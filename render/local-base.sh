#!/bin/sh
# A local stand-in for the official python:3.11-slim-bookworm base, for machines that reach Debian's
# and PyPI's mirrors but no container registry. Made from Debian's own packages: bookworm's python3
# is 3.11, `python` names it (python-is-python3) and `python -m venv` works (python3-venv), as in the
# official image. The machine's own certificate authorities (/usr/local/share/ca-certificates) are
# trusted inside too, so pip reaches the same index through the same egress as the machine.
#   render/local-base.sh [IMAGE]   (root; `make image` runs it only when IMAGE is missing)
set -eu
image=${1:-taskflow-base:bookworm}
suite=bookworm

# The mirror apt already uses here (deb822 .sources or one-line .list), unless DEBIAN_MIRROR is set.
mirrors() {
  { cat /etc/apt/sources.list.d/*.sources 2>/dev/null; } | awk '/^URIs:/ {print $2}'
  { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null; } | awk '$1 == "deb" {print $2}'
}
mirror=${DEBIAN_MIRROR:-$(mirrors | grep -v -e security -e '^https\?://[^/]*/*$' | grep /debian | head -n 1)}
security=${DEBIAN_SECURITY_MIRROR:-$(mirrors | grep debian-security | head -n 1)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${security:-http://deb.debian.org/debian-security}

command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
root=$(mktemp -d /var/tmp/taskflow-base.XXXXXX)
trap 'rm -rf "$root"' EXIT INT TERM

debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates,netbase,tzdata \
  "$suite" "$root" "$mirror"
cat > "$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
SOURCES
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$root" sh -c 'update-ca-certificates >/dev/null && apt-get update -qq && \
  DEBIAN_FRONTEND=noninteractive apt-get -y -qq upgrade >/dev/null && apt-get clean'
# What the slim image leaves out too: package lists, documentation, manual pages, other languages.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/* \
  "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/var/log/*.log "$root"/var/log/apt/* \
  "$root"/etc/resolv.conf "$root"/etc/hostname
: > "$root/etc/resolv.conf"

tar -C "$root" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' \
  --message "python3.11 on Debian $suite (debootstrap minbase), a local stand-in for python:3.11-slim-$suite" \
  - "$image"
