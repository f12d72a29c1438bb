//! Application layouts whose package tools are not packaged for Debian: what RubyGems,
//! Composer and `dotnet publish` leave in an image, in the formats those tools write.
//! What is installed is the list each layout is written from.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

use super::{Installed, Sample};
use crate::oci::Entry;

/// Gems as the official Ruby image holds them: default gems (part of Ruby), bundled
/// gems, and the app's gems installed by Bundler. (directory, name, version, platform,
/// licences).
type Gem = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [&'static str],
);

const GEMS: &[Gem] = &[
    (
        "/usr/local/lib/ruby/gems/3.2.0/specifications/default",
        "json",
        "2.6.3",
        None,
        &["Ruby", "BSD-2-Clause"],
    ),
    (
        "/usr/local/lib/ruby/gems/3.2.0/specifications/default",
        "bigdecimal",
        "3.1.3",
        None,
        &["Ruby", "BSD-2-Clause"],
    ),
    (
        "/usr/local/lib/ruby/gems/3.2.0/specifications/default",
        "openssl",
        "3.1.0",
        None,
        &["Ruby", "BSD-2-Clause"],
    ),
    (
        "/usr/local/lib/ruby/gems/3.2.0/specifications/default",
        "psych",
        "5.0.1",
        None,
        &["MIT"],
    ),
    (
        "/usr/local/lib/ruby/gems/3.2.0/specifications",
        "minitest",
        "5.16.3",
        None,
        &["MIT"],
    ),
    (
        "/usr/local/lib/ruby/gems/3.2.0/specifications",
        "rake",
        "13.0.6",
        None,
        &["MIT"],
    ),
    (
        "/usr/local/lib/ruby/gems/3.2.0/specifications",
        "rexml",
        "3.2.5",
        None,
        &["BSD-2-Clause"],
    ),
    (
        "/usr/local/bundle/specifications",
        "rack",
        "3.0.8",
        None,
        &["MIT"],
    ),
    (
        "/usr/local/bundle/specifications",
        "rails",
        "7.1.2",
        None,
        &["MIT"],
    ),
    (
        "/usr/local/bundle/specifications",
        "actionpack",
        "7.1.2",
        None,
        &["MIT"],
    ),
    (
        "/usr/local/bundle/specifications",
        "activesupport",
        "7.1.2",
        None,
        &["MIT"],
    ),
    (
        "/usr/local/bundle/specifications",
        "nokogiri",
        "1.15.5",
        Some("x86_64-linux"),
        &["MIT"],
    ),
    (
        "/usr/local/bundle/specifications",
        "puma",
        "6.4.0",
        None,
        &["BSD-3-Clause"],
    ),
    (
        "/usr/local/bundle/specifications",
        "concurrent-ruby",
        "1.2.2",
        None,
        &["MIT"],
    ),
    (
        "/usr/local/bundle/specifications",
        "i18n",
        "1.14.1",
        None,
        &["MIT"],
    ),
    (
        "/usr/local/bundle/specifications",
        "tzinfo",
        "2.0.6",
        None,
        &["MIT"],
    ),
    (
        "/usr/local/bundle/specifications",
        "pg",
        "1.5.4",
        None,
        &["BSD-2-Clause"],
    ),
    (
        "/usr/local/bundle/specifications",
        "sidekiq",
        "7.2.0",
        None,
        &["LGPL-3.0-only"],
    ),
];

/// A Ruby app image: gemspecs as RubyGems writes them when it installs a gem.
pub fn ruby() -> Result<Sample> {
    let mut layer = Vec::new();
    let mut installed = BTreeSet::new();
    for (dir, name, version, platform, licenses) in GEMS {
        let file = match platform {
            Some(platform) => format!("{dir}/{name}-{version}-{platform}.gemspec"),
            None => format!("{dir}/{name}-{version}.gemspec"),
        };
        layer.push(Entry::file(
            &file,
            gemspec(name, version, *platform, licenses)?,
        ));
        installed.insert(Installed::new("gem", *name, *version));
    }
    Ok(Sample::new(
        "docker.io/nodebom/sample-ruby:3.2",
        vec![layer],
        vec!["gem"],
        installed,
    ))
}

fn gemspec(name: &str, version: &str, platform: Option<&str>, licenses: &[&str]) -> Result<String> {
    let mut spec = String::new();
    writeln!(spec, "# -*- encoding: utf-8 -*-")?;
    writeln!(
        spec,
        "# stub: {name} {version} {} lib\n",
        platform.unwrap_or("ruby")
    )?;
    writeln!(spec, "Gem::Specification.new do |s|")?;
    writeln!(spec, "  s.name = \"{name}\".freeze")?;
    writeln!(spec, "  s.version = \"{version}\"")?;
    if let Some(platform) = platform {
        writeln!(spec, "  s.platform = \"{platform}\".freeze")?;
    }
    writeln!(spec)?;
    writeln!(spec, "  s.required_rubygems_version = Gem::Requirement.new(\">= 0\".freeze) if s.respond_to? :required_rubygems_version=")?;
    writeln!(spec, "  s.require_paths = [\"lib\".freeze]")?;
    writeln!(spec, "  s.authors = [\"{name} maintainers\".freeze]")?;
    writeln!(spec, "  s.date = \"2023-11-10\"")?;
    writeln!(
        spec,
        "  s.homepage = \"https://rubygems.org/gems/{name}\".freeze"
    )?;
    let licenses: Vec<String> = licenses.iter().map(|l| format!("\"{l}\".freeze")).collect();
    writeln!(spec, "  s.licenses = [{}]", licenses.join(", "))?;
    writeln!(
        spec,
        "  s.required_ruby_version = Gem::Requirement.new(\">= 2.7.0\".freeze)"
    )?;
    writeln!(spec, "  s.rubygems_version = \"3.4.19\".freeze")?;
    writeln!(spec, "  s.summary = \"{name}\".freeze\n")?;
    writeln!(
        spec,
        "  s.installed_by_version = \"3.4.19\" if s.respond_to? :installed_by_version\n"
    )?;
    writeln!(spec, "  s.specification_version = 4\n")?;
    writeln!(
        spec,
        "  s.add_runtime_dependency(%q<rack>.freeze, [\">= 2.2.4\".freeze])"
    )?;
    writeln!(spec, "end")?;
    Ok(spec)
}

/// (name, version, licence, dev only).
const COMPOSER_PACKAGES: &[(&str, &str, &str, bool)] = &[
    ("monolog/monolog", "3.5.0", "MIT", false),
    ("psr/log", "3.0.0", "MIT", false),
    ("symfony/console", "v6.4.1", "MIT", false),
    ("symfony/polyfill-mbstring", "v1.28.0", "MIT", false),
    ("guzzlehttp/guzzle", "7.8.1", "MIT", false),
    ("guzzlehttp/psr7", "2.6.2", "MIT", false),
    ("guzzlehttp/promises", "2.0.2", "MIT", false),
    ("psr/http-message", "2.0", "MIT", false),
    ("doctrine/dbal", "3.7.2", "MIT", false),
    ("phpunit/phpunit", "10.5.3", "BSD-3-Clause", true),
];

/// A PHP app image: Composer 2's `vendor/composer/installed.json`, dev packages
/// included as `composer install` installs them by default.
pub fn php() -> Result<Sample> {
    let packages: Vec<Value> = COMPOSER_PACKAGES
        .iter()
        .map(|(name, version, license, _)| {
            let normalized = format!("{}.0", version.trim_start_matches('v'));
            json!({
                "name": name,
                "version": version,
                "version_normalized": normalized,
                "source": {"type": "git", "url": format!("https://github.com/{name}.git"), "reference": "0123456789abcdef0123456789abcdef01234567"},
                "dist": {"type": "zip", "url": format!("https://api.github.com/repos/{name}/zipball/0123456789abcdef"), "reference": "0123456789abcdef0123456789abcdef01234567", "shasum": ""},
                "require": {"php": ">=8.1"},
                "time": "2023-11-20T10:00:00+00:00",
                "type": "library",
                "installation-source": "dist",
                "notification-url": "https://packagist.org/downloads/",
                "license": [license],
                "description": format!("{name} sample"),
                "install-path": format!("../{name}"),
            })
        })
        .collect();
    let dev: Vec<&str> = COMPOSER_PACKAGES
        .iter()
        .filter(|p| p.3)
        .map(|p| p.0)
        .collect();
    let installed_json = json!({"packages": packages, "dev": true, "dev-package-names": dev});
    let installed = COMPOSER_PACKAGES
        .iter()
        .map(|(name, version, ..)| Installed::new("composer", *name, *version))
        .collect();
    Ok(Sample::new(
        "docker.io/nodebom/sample-php:8.2",
        vec![vec![Entry::file(
            "/var/www/html/vendor/composer/installed.json",
            serde_json::to_vec_pretty(&installed_json)?,
        )]],
        vec!["composer"],
        installed,
    ))
}

/// (name, version) of the NuGet packages of the published app.
const NUGET_PACKAGES: &[(&str, &str)] = &[
    ("Newtonsoft.Json", "13.0.3"),
    ("Serilog", "3.1.1"),
    ("Serilog.Sinks.Console", "5.0.1"),
    ("Microsoft.Extensions.Logging.Abstractions", "8.0.0"),
    ("Npgsql", "8.0.1"),
    ("System.Text.Json", "8.0.0"),
];

/// Assemblies compiled by Mono's C# compiler for the agent's .NET fixtures
/// (`agent/src/catalog/dotnet/testdata/make-assemblies.sh`), with the name and version
/// their version resources give: ProductName unless it is Microsoft's, the higher of
/// FileVersion and ProductVersion.
const ASSEMBLIES: &[(&str, &str, &str)] = &[
    ("Acme.Widgets.dll", "Acme Widgets", "2.4.1.0"),
    (
        "Contoso.Telemetry.dll",
        "Contoso.Telemetry",
        "8.0.124.61010",
    ),
    ("acme-cli.exe", "acme-cli", "3.1.0-beta.2"),
];

/// A .NET app image: `dotnet publish`'s `SampleApi.deps.json` (the app itself is a
/// `project` library, not a package) and compiled assemblies.
pub fn dotnet() -> Result<Sample> {
    let target = ".NETCoreApp,Version=v8.0";
    let mut entries = Map::new();
    let mut libraries = Map::new();
    entries.insert(
        "SampleApi/1.0.0".into(),
        json!({
            "dependencies": NUGET_PACKAGES.iter().map(|(n, v)| (n.to_string(), json!(v))).collect::<Map<_, _>>(),
            "runtime": {"SampleApi.dll": {}},
        }),
    );
    libraries.insert(
        "SampleApi/1.0.0".into(),
        json!({"type": "project", "serviceable": false, "sha512": ""}),
    );
    for (name, version) in NUGET_PACKAGES {
        let lower = name.to_lowercase();
        entries.insert(
            format!("{name}/{version}"),
            json!({"runtime": {format!("lib/net8.0/{name}.dll"): {"assemblyVersion": "8.0.0.0", "fileVersion": format!("{version}.0")}}}),
        );
        libraries.insert(
            format!("{name}/{version}"),
            json!({
                "type": "package",
                "serviceable": true,
                "sha512": "sha512-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
                "path": format!("{lower}/{version}"),
                "hashPath": format!("{lower}.{version}.nupkg.sha512"),
            }),
        );
    }
    let deps = json!({
        "runtimeTarget": {"name": target, "signature": ""},
        "compilationOptions": {},
        "targets": {target: entries},
        "libraries": libraries,
    });
    let mut layer = vec![Entry::file(
        "/app/SampleApi.deps.json",
        serde_json::to_vec_pretty(&deps)?,
    )];
    let mut installed: BTreeSet<Installed> = NUGET_PACKAGES
        .iter()
        .map(|(name, version)| Installed::new("nuget", *name, *version))
        .collect();
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/src/catalog/dotnet/testdata/app");
    for (file, name, version) in ASSEMBLIES {
        let data = std::fs::read(fixtures.join(file))
            .with_context(|| format!("reading the assembly fixture {file}"))?;
        layer.push(Entry::file(&format!("/app/{file}"), data));
        installed.insert(Installed::new("nuget", *name, *version));
    }
    Ok(Sample::new(
        "docker.io/nodebom/sample-dotnet:8.0",
        vec![layer],
        vec!["nuget"],
        installed,
    ))
}
