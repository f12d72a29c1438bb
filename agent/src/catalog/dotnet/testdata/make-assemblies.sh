#!/bin/sh
# Regenerates the .NET assemblies under testdata/app/ with Debian's Mono C# compiler
# (`apt-get install mono-mcs`), and copies two small assemblies of Debian's own Mono
# packages (`apt-get install mono-runtime ca-certificates-mono`) into
# testdata/usr/lib/mono/.
#
# The compiler writes the assembly attributes into the PE's Win32 version resource
# (VS_VERSIONINFO), which is what the portable-executable cataloger reads:
#   AssemblyTitle -> FileDescription, AssemblyProduct -> ProductName,
#   AssemblyCompany -> CompanyName, AssemblyFileVersion -> FileVersion,
#   AssemblyInformationalVersion -> ProductVersion.
#
#   app/Acme.Widgets.dll        a library with an informational version "2.4.1+abcdef0"
#   app/Contoso.Telemetry.dll   a Microsoft-branded library: FileDescription names it
#   app/acme-cli.exe            a program with no title, product or company, and a
#                               "3.1.0-beta.2 built by: ..." informational version
#
# The output is not byte-for-byte reproducible (the compiler writes a fresh module id);
# the tests only depend on the version resource.
#
# Run from anywhere: sh agent/src/catalog/dotnet/testdata/make-assemblies.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$here/app"

cat >"$work/widgets.cs" <<'EOF'
using System.Reflection;
[assembly: AssemblyTitle("Acme Widgets")]
[assembly: AssemblyProduct("Acme Widgets")]
[assembly: AssemblyCompany("Acme Corp")]
[assembly: AssemblyCopyright("Copyright 2024 Acme Corp")]
[assembly: AssemblyVersion("2.4.0.0")]
[assembly: AssemblyFileVersion("2.4.1.0")]
[assembly: AssemblyInformationalVersion("2.4.1+abcdef0")]
namespace Acme.Widgets { public static class Widget { public static int Size() { return 3; } } }
EOF

cat >"$work/telemetry.cs" <<'EOF'
using System.Reflection;
[assembly: AssemblyTitle("Contoso.Telemetry")]
[assembly: AssemblyProduct("Microsoft\u00ae .NET")]
[assembly: AssemblyCompany("Microsoft Corporation")]
[assembly: AssemblyVersion("8.0.0.0")]
[assembly: AssemblyFileVersion("8.0.124.61010")]
[assembly: AssemblyInformationalVersion("8.0.1+c61f043686a544863efc014114c42e844f905336")]
namespace Contoso.Telemetry { public static class Meter { public static int Count() { return 1; } } }
EOF

cat >"$work/cli.cs" <<'EOF'
using System.Reflection;
[assembly: AssemblyVersion("3.1.0.0")]
[assembly: AssemblyFileVersion("3.1.0.0")]
[assembly: AssemblyInformationalVersion("3.1.0-beta.2 built by: ci-runner-7")]
public static class Program { public static void Main() { System.Console.WriteLine("acme"); } }
EOF

mcs -target:library -optimize+ -out:"$here/app/Acme.Widgets.dll" "$work/widgets.cs"
mcs -target:library -optimize+ -out:"$here/app/Contoso.Telemetry.dll" "$work/telemetry.cs"
mcs -target:exe -optimize+ -out:"$here/app/acme-cli.exe" "$work/cli.cs"

# Real framework assemblies as Debian ships them (mono 6.8), a few tens of KiB each.
mkdir -p "$here/usr/lib/mono/4.5" \
    "$here/usr/lib/mono/gac/Mono.Btls.Interface/4.0.0.0__0738eb9f132ed756"
cp -L /usr/lib/mono/4.5/cert-sync.exe "$here/usr/lib/mono/4.5/cert-sync.exe"
cp -L /usr/lib/mono/gac/Mono.Btls.Interface/4.0.0.0__0738eb9f132ed756/Mono.Btls.Interface.dll \
    "$here/usr/lib/mono/gac/Mono.Btls.Interface/4.0.0.0__0738eb9f132ed756/"
ls -l "$here/app" "$here/usr/lib/mono/4.5"
