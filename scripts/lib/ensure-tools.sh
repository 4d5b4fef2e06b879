# Shared by scripts/build-fixtures and scripts/test: makes sure system commands exist, installing their Debian packages as root.
# Usage: ensure_tools COMMAND:PACKAGE ...   (sets MISSING_TOOLS; returns non-zero if any is still missing)

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

missing_packages_for() {
  local pair command package
  local -a packages=()
  for pair in "$@"; do
    command=${pair%%:*}
    package=${pair#*:}
    if ! command -v "$command" >/dev/null 2>&1; then
      MISSING_TOOLS+=("$command")
      [[ " ${packages[*]} " == *" $package "* ]] || packages+=("$package")
    fi
  done
  MISSING_PACKAGES=("${packages[@]}")
}

apt_get_with_lock_wait() {
  local attempt errors
  errors=$(mktemp)
  for attempt in $(seq 1 60); do
    if DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 "$@" 2>"$errors"; then
      rm -f "$errors"
      return 0
    fi
    if ! grep -qiE 'could not get lock|unable to lock' "$errors"; then
      cat "$errors" >&2
      rm -f "$errors"
      return 1
    fi
    echo "apt is busy (another apt-get or dpkg holds its lock); retrying in 5 s" >&2
    sleep 5
  done
  cat "$errors" >&2
  rm -f "$errors"
  return 1
}

ensure_tools() {
  MISSING_TOOLS=()
  missing_packages_for "$@"
  ((${#MISSING_TOOLS[@]} == 0)) && return 0

  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian packages for missing tools (${MISSING_TOOLS[*]}): ${MISSING_PACKAGES[*]}" >&2
    apt_get_with_lock_wait update -qq >&2 || echo "warning: apt-get update failed" >&2
    apt_get_with_lock_wait install -y -qq --no-install-recommends "${MISSING_PACKAGES[@]}" >&2 \
      || echo "error: apt-get install ${MISSING_PACKAGES[*]} failed" >&2
    MISSING_TOOLS=()
    missing_packages_for "$@"
    ((${#MISSING_TOOLS[@]} == 0)) && return 0
  fi

  echo "Missing tools: ${MISSING_TOOLS[*]}" >&2
  echo "Install them with: sudo apt-get install -y --no-install-recommends ${MISSING_PACKAGES[*]}" >&2
  return 1
}
