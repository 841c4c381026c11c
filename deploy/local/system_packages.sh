#!/usr/bin/env bash
# Debian packages the platform needs beyond Python wheels: Pango and fonts for WeasyPrint's PDFs
# (reports), and Chromium for the staff board's browser test. Installs only what is missing, so a
# machine that has them pays one `dpkg -s` per package.
set -euo pipefail
wanted=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-liberation2 chromium)
missing=()
for package in "${wanted[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]}"
    sudo_if_needed=()
    [[ $(id -u) -ne 0 ]] && sudo_if_needed=(sudo)
    "${sudo_if_needed[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_if_needed[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
