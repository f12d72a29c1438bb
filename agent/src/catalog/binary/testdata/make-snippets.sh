#!/bin/sh
# Regenerates testdata/snippets/<package>-<version>/<file>: 4 KiB of a real binary around
# the string its classifier reads (2 KiB either side of it), under the file name the
# classifier wants. The window starts before the first occurrence of the string in the
# whole binary, so the first match in the snippet is the first match in the binary.
#
# Sources, no network but the Debian mirror of this machine's apt configuration:
#   - Debian 12 packages fetched with `apt-get download` and unpacked with `dpkg-deb -x`
#     (nothing is installed, no service starts);
#   - node: /usr/bin/node of the NodeSource nodejs package installed here (the official
#     static build; Debian's own node is a small program linking libnode.so), or $NODE;
#   - Temurin 25's bin/java and bin/jdb from $TEMURIN (default
#     /usr/lib/jvm/temurin-25-jdk-amd64, installed here from Adoptium's archive).
# A local source that is missing is skipped, leaving its snippets as they are.
#
# Renamed on the way, because syft's and this crate's classifiers pick files by name:
#   redis-check-rdb → redis-server  Debian installs the server as a link to it
#   apache2         → httpd         upstream's name for the same program
#   php8.2          → php           the name in the official PHP images
#   libruby-3.1.so.3.1.2 → libruby.so.3.1  upstream's library name (--enable-shared)
#
# `syft scan dir:agent/src/catalog/binary/testdata/snippets` (syft 1.18.1) reports the
# same packages as the tests expect, except those the tests mark as not in syft.
#
# Run from anywhere: sh agent/src/catalog/binary/testdata/make-snippets.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
out="$work/snippets"
trap 'rm -rf "$work"' EXIT
NODE=${NODE:-/usr/bin/node}
TEMURIN=${TEMURIN:-/usr/lib/jvm/temurin-25-jdk-amd64}

debs="python3.11-minimal libpython3.11 golang-1.19-go openjdk-17-jre-headless libruby3.1
php8.2-cli php8.2-fpm php8.2-cgi libapache2-mod-php8.2 openssl libssl3 busybox nginx
redis-tools apache2-bin memcached postgresql-15 mariadb-client-core haproxy bash curl
lighttpd proftpd-core zstd xz-utils gzip jq util-linux"

mkdir "$work/debs"
(cd "$work/debs" && apt-get download $debs >/dev/null)
for deb in "$work"/debs/*.deb; do
    name=$(dpkg-deb -f "$deb" Package)
    dpkg-deb -x "$deb" "$work/$name"
    echo "$name $(dpkg-deb -f "$deb" Version)"
done

# snip SOURCE FILE-NAME PACKAGE PATTERN: cuts the window around the first match of
# PATTERN (a Python bytes regex whose group `v` is the version) into
# snippets/PACKAGE-<v>/FILE-NAME.
snip() {
    python3 - "$out" "$@" <<'EOF'
import os, re, sys
out, source, file_name, package, pattern = sys.argv[1:]
data = open(source, "rb").read()
match = re.search(pattern.encode(), data)
if not match:
    sys.exit(f"{source}: no match for {pattern!r}")
version = match.group("v").decode()
start, end = max(0, match.start() - 2048), min(len(data), match.end() + 2048)
target = os.path.join(out, f"{package}-{version}")
os.makedirs(target, exist_ok=True)
with open(os.path.join(target, file_name), "wb") as f:
    f.write(data[start:end])
print(f"{package}-{version}/{file_name}: {source} bytes {start}..{end}")
EOF
}

mkdir "$out"
w=$work
snip "$w/python3.11-minimal/usr/bin/python3.11" python3.11 python '\x00(?P<v>3\.11\.[0-9]+)\x00'
snip "$w/libpython3.11/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0" libpython3.11.so.1.0 python \
    '\x00(?P<v>3\.11\.[0-9]+)\x00'
snip "$w/golang-1.19-go/usr/lib/go-1.19/bin/go" go go 'go(?P<v>1\.[0-9]+\.[0-9]+)\x00'
snip "$w/golang-1.19-go/usr/lib/go-1.19/VERSION" VERSION go 'go(?P<v>1\.[0-9]+\.[0-9]+)'
snip "$w/openjdk-17-jre-headless/usr/lib/jvm/java-17-openjdk-amd64/bin/java" java java \
    '\x00openjdk\x00java\x00[0-9.]+\x00(?P<v>[^\x00]+)\x00'
snip "$w/libruby3.1/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1.2" libruby.so.3.1 ruby \
    'ruby (?P<v>3\.1\.[0-9]+p[0-9]+) '
php='X-Powered-By: PHP/(?P<v>[0-9]+\.[0-9]+\.[0-9]+)'
snip "$w/php8.2-cli/usr/bin/php8.2" php php "$php"
snip "$w/php8.2-fpm/usr/sbin/php-fpm8.2" php-fpm8.2 php "$php"
snip "$w/php8.2-cgi/usr/bin/php-cgi8.2" php-cgi8.2 php "$php"
snip "$w/libapache2-mod-php8.2/usr/lib/apache2/modules/libphp8.2.so" libphp8.2.so php "$php"
snip "$w/openssl/usr/bin/openssl" openssl openssl '\x00OpenSSL (?P<v>[0-9]+\.[0-9]+\.[0-9]+)'
snip "$w/libssl3/usr/lib/x86_64-linux-gnu/libcrypto.so.3" libcrypto.so.3 openssl \
    '\x00OpenSSL (?P<v>[0-9]+\.[0-9]+\.[0-9]+)'
snip "$w/busybox/bin/busybox" busybox busybox 'BusyBox v(?P<v>[0-9]+\.[0-9]+\.[0-9]+)'
snip "$w/nginx/usr/sbin/nginx" nginx nginx 'nginx version: nginx/(?P<v>[0-9.]+[0-9])'
snip "$w/redis-tools/usr/bin/redis-check-rdb" redis-server redis \
    '[^0-9.](?P<v>[0-9]+\.[0-9]+\.[0-9]+?)[0-9]{19}\x00'
snip "$w/apache2-bin/usr/sbin/apache2" httpd httpd 'Apache/(?P<v>[0-9]+\.[0-9]+\.[0-9]+)'
snip "$w/memcached/usr/bin/memcached" memcached memcached 'memcached (?P<v>[0-9]+\.[0-9]+\.[0-9]+)'
snip "$w/postgresql-15/usr/lib/postgresql/15/bin/postgres" postgres postgresql \
    '\x00PostgreSQL (?P<v>[0-9]+\.[0-9]+)'
snip "$w/mariadb-client-core/usr/bin/mariadb" mariadb mariadb '(?P<v>[0-9]+\.[0-9]+\.[0-9]+)-MariaDB'
snip "$w/haproxy/usr/sbin/haproxy" haproxy haproxy 'version (?P<v>[0-9]+\.[0-9]+\.[0-9]+)-[^,]*, released'
snip "$w/bash/bin/bash" bash bash 'Bash version (?P<v>[0-9]+\.[0-9]+\.[0-9]+)'
snip "$w/curl/usr/bin/curl" curl curl 'curl/(?P<v>[0-9]+\.[0-9]+\.[0-9]+)'
snip "$w/lighttpd/usr/sbin/lighttpd" lighttpd lighttpd '\x00lighttpd/(?P<v>[0-9.]+[0-9])\x00'
snip "$w/proftpd-core/usr/sbin/proftpd" proftpd proftpd 'ProFTPD Version (?P<v>[0-9.]+[0-9])\x00'
snip "$w/zstd/usr/bin/zstd" zstd zstd '\x00v(?P<v>[0-9]+\.[0-9]+\.[0-9]+)\x00'
snip "$w/xz-utils/usr/bin/xz" xz xz 'XZ Utils\) (?P<v>[0-9.]+[0-9])\x00'
snip "$w/gzip/bin/gzip" gzip gzip '\x00(?P<v>[0-9]+\.[0-9]+)\x00'
snip "$w/jq/usr/bin/jq" jq jq '\x00(?P<v>[0-9]{1,3}\.[0-9]{1,3}(\.[0-9]+)?)\x00'
snip "$w/util-linux/usr/bin/getopt" getopt util-linux 'util-linux (?P<v>[0-9.]+[0-9])\x00'

# keep GLOB: the local source is missing; keeps the snippet directories GLOB names.
keep() {
    for dir in "$here"/snippets/$1; do
        [ -d "$dir" ] && cp -R "$dir" "$out/"
    done
    echo "skipped: $2" >&2
}
if [ -x "$NODE" ]; then
    snip "$NODE" node node 'node\.js/v(?P<v>[0-9]+\.[0-9]+\.[0-9]+)'
else
    keep 'node-*' "no node at $NODE"
fi
if [ -x "$TEMURIN/bin/java" ]; then
    snip "$TEMURIN/bin/java" java java '\x00openjdk\x00java\x00[0-9.]+\x00(?P<v>[^\x00]+)\x00'
    snip "$TEMURIN/bin/jdb" jdb java '\x00openjdk\x00jdb\x00[0-9.]+\x00(?P<v>[^\x00]+)\x00'
else
    keep 'java-*-LTS' "no Temurin JDK at $TEMURIN"
fi

rm -rf "$here/snippets"
cp -R "$out" "$here/snippets"
