#!/usr/bin/env bash
# Debian packages the platform needs beyond Python wheels: Pango and fonts for WeasyPrint's PDFs
# (reports), Chromium for the staff board's browser test, and PostgreSQL, where the local FerretDB
# keeps its data (deploy/local/stack.py runs its own server; Debian's own cluster is not created).
# Installs only what is missing, so a machine that has them pays one `dpkg -s` per package.
set -euo pipefail
wanted=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-liberation2 chromium postgresql)
missing=()
for package in "${wanted[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]}"
    sudo_if_needed=()
    [[ $(id -u) -ne 0 ]] && sudo_if_needed=(sudo)
    if [[ " ${missing[*]} " == *" postgresql "* ]]; then
        "${sudo_if_needed[@]}" mkdir -p /etc/postgresql-common/createcluster.d
        echo "create_main_cluster = false" |
            "${sudo_if_needed[@]}" tee /etc/postgresql-common/createcluster.d/second-opinion.conf >/dev/null
    fi
    "${sudo_if_needed[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_if_needed[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
