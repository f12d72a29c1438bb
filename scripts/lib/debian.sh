# Sourced by the scripts in scripts/: installs the Debian packages a script needs.

# The packages the last ensure_debian_packages installed.
DEBIAN_PACKAGES_INSTALLED=()

# ensure_debian_packages PKG...: installs those that are not installed (as root, from
# the machine's apt sources) and fails when one cannot be had.
ensure_debian_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    DEBIAN_PACKAGES_INSTALLED=()
    ((${#missing[@]})) || return 0
    if [ "$(id -u)" != 0 ]; then
        echo "error: missing Debian packages (${missing[*]}); install them or run as root" >&2
        return 1
    fi
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
    DEBIAN_PACKAGES_INSTALLED=("${missing[@]}")
}

# stop_new_service PKG SERVICE: when the last ensure_debian_packages installed PKG,
# stops and disables SERVICE, which PKG's maintainer script starts under systemd, and
# under sysvinit unless a policy-rc.d forbids it (as in most containers): the scripts
# want the package's programs, not its daemon. One that was there before is left alone.
stop_new_service() {
    local pkg=$1 service=$2
    [[ " ${DEBIAN_PACKAGES_INSTALLED[*]} " == *" $pkg "* ]] || return 0
    if [ -d /run/systemd/system ]; then
        systemctl disable --now --quiet "$service"
    elif [ -x "/etc/init.d/$service" ]; then
        "/etc/init.d/$service" stop
        update-rc.d "$service" disable
    fi
}

# require_tools TOOL...: fails, naming the tool, when one is not on PATH.
require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "error: $tool is required and is not installed" >&2; return 1; }
    done
}
