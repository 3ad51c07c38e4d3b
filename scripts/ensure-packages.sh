# scripts/ensure-packages.sh: sourced by the scripts that set up a machine.
# ensure_packages PKG...: install the Debian packages that are missing
# (apt-get update first), when running as root; a no-op otherwise.
ensure_packages() {
    [ "$(id -u)" -eq 0 ] || return 0
    local missing=() p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
