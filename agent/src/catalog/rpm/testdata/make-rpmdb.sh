#!/bin/sh
# Regenerates testdata/var/lib/rpm/rpmdb.sqlite with the real rpm tools (Debian's `rpm`
# package, whose default database backend is sqlite: `rpm --eval %_db_backend`), and
# testdata/var/lib/rpm/Packages, a Berkeley DB hash database holding the same headers.
#
# Debian's rpm 4.18 can write neither Berkeley DB nor NDB (`--define '_db_backend bdb'`
# and `ndb` fall back to a dummy database; only `bdb_ro` is compiled in). So the headers
# rpm wrote into rpmdb.sqlite are loaded into a hash database by Berkeley DB's own
# db5.3_load (package db5.3-util, the library RHEL 7/8's rpm uses), keyed like rpm keys
# them (native-endian header number, key 0 holding the next number), with 512-byte pages
# so that every header lies on overflow pages; rpm's read-only bdb_ro backend then lists
# it to check the result. NDB fixtures are constructed in the tests (ndb.rs).
#
# Packages written into the database:
#   acme-tools   2:3.1.4-7.fc40  x86_64  from acme-tools-3.1.4-7.fc40.src.rpm (has an Epoch)
#   greeter      1.0-1           noarch  from greeter-1.0-1.src.rpm
#   libgreet     0.9-1           noarch  subpackage of greeter: source greeter-1.0-1.src.rpm
#   gpg-pubkey   <keyid>-<date>          a public key imported with `rpm --import`
# Files they install (the header's BASENAMES, DIRNAMES and DIRINDEXES), named so that
# some are binaries a classifier would read:
#   acme-tools   /usr/bin/acme, /usr/libexec/acme/node, /usr/share/doc/acme-tools/README
#   greeter      /usr/bin/greet
#   libgreet     /usr/lib64/libpython3.12.so.1.0, /usr/share/licenses/libgreet/COPYING
#
# Run from anywhere: sh agent/src/catalog/rpm/testdata/make-rpmdb.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/acme-tools.spec" <<'EOF'
Name:      acme-tools
Epoch:     2
Version:   3.1.4
Release:   7.fc40
Summary:   Fixture package with an epoch
License:   MIT AND Apache-2.0
BuildArch: x86_64
%description
Fixture package with an epoch.
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/libexec/acme %{buildroot}/usr/share/doc/acme-tools
echo acme >%{buildroot}/usr/bin/acme
echo node >%{buildroot}/usr/libexec/acme/node
echo readme >%{buildroot}/usr/share/doc/acme-tools/README
%files
/usr/bin/acme
/usr/libexec/acme/node
/usr/share/doc/acme-tools/README
EOF

cat >"$work/greeter.spec" <<'EOF'
Name:      greeter
Version:   1.0
Release:   1
Summary:   Fixture package with a subpackage
License:   GPL-2.0-or-later
BuildArch: noarch
%description
Fixture package with a subpackage.
%package -n libgreet
Version:   0.9
Summary:   Subpackage whose source rpm is greeter's
License:   LGPL-2.1-only
%description -n libgreet
Subpackage whose source rpm is greeter's.
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/lib64 %{buildroot}/usr/share/licenses/libgreet
echo greet >%{buildroot}/usr/bin/greet
echo lib >%{buildroot}/usr/lib64/libpython3.12.so.1.0
echo license >%{buildroot}/usr/share/licenses/libgreet/COPYING
%files
/usr/bin/greet
%files -n libgreet
/usr/lib64/libpython3.12.so.1.0
/usr/share/licenses/libgreet/COPYING
EOF

for spec in acme-tools greeter; do
    rpmbuild --quiet -bb --define "_topdir $work/build" "$work/$spec.spec"
done

# A throwaway OpenPGP key, imported the way distributions import their signing keys.
export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
    --quick-gen-key 'nodebom fixture <fixture@example.invalid>' ed25519 sign never
gpg --batch --armor --export >"$work/key.asc"

db="$work/db"
mkdir "$db"
rpm --dbpath "$db" --initdb
rpm --dbpath "$db" --import "$work/key.asc"
rpm --dbpath "$db" -i --nodeps --justdb --ignorearch --ignoreos \
    "$work"/build/RPMS/*/*.rpm
# Fold the write-ahead log into the database file, as rpm does when it closes it.
sqlite3 "$db/rpmdb.sqlite" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null

mkdir -p "$here/var/lib/rpm"
cp "$db/rpmdb.sqlite" "$here/var/lib/rpm/rpmdb.sqlite"
rpm --dbpath "$db" -qa --qf '%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\t%{LICENSE}\n' | sort

# The Berkeley DB copy, in db_dump's "bytevalue" format: hex key line, hex value line.
le32() { printf '%08x' "$1" | sed 's/\(..\)\(..\)\(..\)\(..\)/\4\3\2\1/'; }
bdb="$work/bdb"
mkdir "$bdb"
{
    printf 'VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=512\nHEADER=END\n'
    sqlite3 -separator ' ' "$db/rpmdb.sqlite" 'SELECT hnum, lower(hex(blob)) FROM Packages ORDER BY hnum' |
        while read -r hnum blob; do
            printf ' %s\n %s\n' "$(le32 "$hnum")" "$blob"
        done
    next=$(sqlite3 "$db/rpmdb.sqlite" 'SELECT max(hnum) + 1 FROM Packages')
    printf ' %s\n %s\n' "$(le32 0)" "$(le32 "$next")"
    printf 'DATA=END\n'
} >"$work/dump.txt"
db5.3_load -f "$work/dump.txt" "$bdb/Packages"
cp "$bdb/Packages" "$here/var/lib/rpm/Packages"
rpm --dbpath "$bdb" --define '_db_backend bdb_ro' -qa 2>/dev/null | sort
