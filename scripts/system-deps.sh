#!/usr/bin/env bash
# Installs the system packages the server (`run`) or the test suite (`test`) needs, when missing.
# libopus: the audio path decodes with libopus itself (PLC, FEC). Tests: redis-server (shared state),
# chromium (the page), icecast2 (the relay tier) and ffmpeg (pydub's MP3/Ogg decoding).
set -euo pipefail
want=(libopus0)
if [ "${1:-run}" = test ]; then
  want+=(redis-server chromium icecast2 ffmpeg)
fi
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "missing system packages: ${missing[*]} (install them with your package manager)" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing system packages: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
