#!/usr/bin/env bash
# Debian packages ragchat needs: what mysqlclient compiles against, Tesseract and Poppler to read scanned
# PDFs (OCR), and (with --test) the browser and database server the test suite drives and wrk for the load
# bench. Installs with apt-get when run as root; otherwise says what to install.
set -euo pipefail
packages=(pkg-config libmariadb-dev gcc tesseract-ocr tesseract-ocr-eng poppler-utils)
if [ "${1:-}" = "--test" ]; then
  packages+=(chromium mariadb-server mariadb-client fonts-dejavu-core wrk)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "Installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "ragchat needs these system packages: ${missing[*]}" >&2
  echo "Install them first, e.g.: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
