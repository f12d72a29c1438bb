# Sourced by the scripts in scripts/: installs the Debian packages a script needs.

# ensure_debian_packages PKG...: installs those that are not installed (as root, from
# the machine's apt sources) and fails when one cannot be had.
ensure_debian_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    if [ "$(id -u)" != 0 ]; then
        echo "error: missing Debian packages (${missing[*]}); install them or run as root" >&2
        return 1
    fi
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# require_tools TOOL...: fails, naming the tool, when one is not on PATH.
require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "error: $tool is required and is not installed" >&2; return 1; }
    done
}
