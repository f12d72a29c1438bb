//! A JVM application image: Debian's Maven jars as an app's `lib/`, an application jar
//! and a web archive built here by `javac` and `jar` (the war nests two of the jars in
//! `WEB-INF/lib/`, as a servlet container's deployment does).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::{run, Installed, Sample};
use crate::oci::Entry;

/// Debian's local Maven repository: `<group path>/<artifact>/<version>/<artifact>-<version>.jar`
/// links to the jars in `/usr/share/java`. Debian links one jar under several names too
/// (a `debian` or `3.x` version, a relocated group); a jar is taken under the one name
/// its own `META-INF/maven/<group>/<artifact>/pom.properties` states, and only when it
/// states exactly one (a jar that shades others holds several).
const MAVEN_REPO: &str = "/usr/share/maven-repo";

const APP_GROUP: &str = "com.example";

/// A jar of Debian's Maven repository.
struct RepoJar {
    group: String,
    artifact: String,
    version: String,
    file: PathBuf,
}

pub fn jvm(work: &Path) -> Result<Sample> {
    if work.exists() {
        std::fs::remove_dir_all(work)?;
    }
    std::fs::create_dir_all(work)?;
    let jars = repo_jars()?;
    let mut layer = Vec::new();
    let mut installed = BTreeSet::new();
    for jar in &jars {
        layer.push(Entry::File {
            path: format!("/app/lib/{}-{}.jar", jar.artifact, jar.version),
            data: std::fs::read(&jar.file)?,
            mode: 0o644,
        });
        installed.insert(Installed::new(
            "maven",
            format!("{}:{}", jar.group, jar.artifact),
            &jar.version,
        ));
    }

    let app = build_archive(work, "sample-app", "1.4.2", "jar", &[])?;
    layer.push(Entry::file("/app/sample-app.jar", app));
    installed.insert(Installed::new(
        "maven",
        format!("{APP_GROUP}:sample-app"),
        "1.4.2",
    ));

    let nested: Vec<&RepoJar> = jars.iter().take(2).collect();
    let war = build_archive(work, "sample-web", "2.0.1", "war", &nested)?;
    layer.push(Entry::file("/usr/local/tomcat/webapps/sample-web.war", war));
    installed.insert(Installed::new(
        "maven",
        format!("{APP_GROUP}:sample-web"),
        "2.0.1",
    ));

    Ok(Sample::new(
        "docker.io/nodebom/sample-jvm:1.0",
        vec![layer],
        vec!["maven"],
        installed,
    ))
}

/// Every released jar of Debian's Maven repository on this machine.
fn repo_jars() -> Result<Vec<RepoJar>> {
    let mut jars = Vec::new();
    let mut stack = vec![PathBuf::from(MAVEN_REPO)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
                continue;
            }
            let Some(jar) = repo_jar(&path) else { continue };
            if states_only(&jar)? {
                jars.push(jar);
            }
        }
    }
    jars.sort_by(|a, b| (&a.group, &a.artifact).cmp(&(&b.group, &b.artifact)));
    jars.dedup_by(|a, b| a.file == b.file);
    anyhow::ensure!(
        !jars.is_empty(),
        "no jars in {MAVEN_REPO}: install a few lib*-java packages"
    );
    Ok(jars)
}

/// Whether the jar's only `pom.properties` is the one of its repository coordinates.
fn states_only(jar: &RepoJar) -> Result<bool> {
    let listing = run(Command::new("unzip").arg("-Z1").arg(&jar.file))?;
    let poms: Vec<&str> = listing
        .lines()
        .filter(|entry| entry.starts_with("META-INF/maven/") && entry.ends_with("/pom.properties"))
        .collect();
    let own = format!(
        "META-INF/maven/{}/{}/pom.properties",
        jar.group, jar.artifact
    );
    Ok(poms == [own.as_str()])
}

/// `<group path>/<artifact>/<version>/<artifact>-<version>.jar`, when it is one.
fn repo_jar(path: &Path) -> Option<RepoJar> {
    let relative = path.strip_prefix(MAVEN_REPO).ok()?;
    let parts: Vec<&str> = relative.iter().filter_map(|p| p.to_str()).collect();
    let [group @ .., artifact, version, file] = parts.as_slice() else {
        return None;
    };
    let expected = format!("{artifact}-{version}.jar");
    if group.is_empty() || *version == "debian" || version.ends_with(".x") || **file != expected {
        return None;
    }
    let file = std::fs::canonicalize(path).ok()?;
    file.is_file().then(|| RepoJar {
        group: group.join("."),
        artifact: (*artifact).to_owned(),
        version: (*version).to_owned(),
        file,
    })
}

/// A jar or war with one compiled class, Maven's `pom.properties` and a manifest; a war
/// also carries `nested` jars in `WEB-INF/lib/`.
fn build_archive(
    work: &Path,
    artifact: &str,
    version: &str,
    kind: &str,
    nested: &[&RepoJar],
) -> Result<Vec<u8>> {
    let dir = work.join(artifact);
    let classes = if kind == "war" {
        dir.join("WEB-INF/classes")
    } else {
        dir.clone()
    };
    let source_dir = work.join(format!("{artifact}-src"));
    std::fs::create_dir_all(&source_dir)?;
    let source = source_dir.join("Main.java");
    std::fs::write(
        &source,
        "package com.example;\npublic class Main {\n    public static void main(String[] args) {\n        System.out.println(\"sample\");\n    }\n}\n",
    )?;
    run(Command::new("javac").arg("-d").arg(&classes).arg(&source))?;
    let maven = dir.join(format!("META-INF/maven/{APP_GROUP}/{artifact}"));
    std::fs::create_dir_all(&maven)?;
    std::fs::write(
        maven.join("pom.properties"),
        format!("artifactId={artifact}\ngroupId={APP_GROUP}\nversion={version}\n"),
    )?;
    if !nested.is_empty() {
        let lib = dir.join("WEB-INF/lib");
        std::fs::create_dir_all(&lib)?;
        for jar in nested {
            std::fs::copy(
                &jar.file,
                lib.join(format!("{}-{}.jar", jar.artifact, jar.version)),
            )?;
        }
    }
    let manifest = work.join(format!("{artifact}.MF"));
    std::fs::write(
        &manifest,
        format!(
            "Implementation-Title: {artifact}\nImplementation-Version: {version}\nImplementation-Vendor-Id: {APP_GROUP}\n"
        ),
    )?;
    let archive = work.join(format!("{artifact}.{kind}"));
    run(Command::new("jar")
        .arg("--create")
        .arg("--file")
        .arg(&archive)
        .arg("--manifest")
        .arg(&manifest)
        .arg("-C")
        .arg(&dir)
        .arg("."))?;
    Ok(std::fs::read(&archive)?)
}
