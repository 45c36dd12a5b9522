#!/usr/bin/env bash
# Install the reference clients the side-by-side bench measures us against, when missing:
# neomutt, aerc and notmuch from Debian (bookworm: neomutt 20220429, aerc 0.14, notmuch
# 0.37), plus tmux, which drives the two terminal clients. Only the bench calls this;
# the test setup never installs them.
#   bench/anchors.sh          install what is missing (as root or with sudo)
#   bench/anchors.sh --check  print what is installed, install nothing (exit 1 if any is missing)
set -euo pipefail

PACKAGES=(neomutt aerc notmuch tmux)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$pkg")
done

if [ "${1:-}" = "--check" ]; then
  for pkg in "${PACKAGES[@]}"; do
    printf '%-8s %s\n' "$pkg" "$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || echo missing)"
  done
  [ ${#missing[@]} -eq 0 ]
  exit
fi

[ ${#missing[@]} -eq 0 ] && exit 0
echo "anchors: installing ${missing[*]}" >&2
# Like scripts/dev: keep the packages from starting system-wide daemons while they install.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy"
  made_policy=1
  trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
fi
if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
[ "$made_policy" -eq 1 ] && as_root rm -f "$policy"
exit 0
