//! rpm cataloger: installed packages of Fedora, RHEL, SUSE and derivatives, read from
//! whichever database rpm was built with: sqlite (`rpmdb.sqlite`, rpm ≥ 4.16), Berkeley
//! DB (`Packages`, RHEL/CentOS ≤ 8, Amazon Linux 2) or NDB (`Packages.db`, SUSE).
//!
//! Every backend stores one rpm header blob per package, decoded by `parse`. The sqlite
//! database is opened in memory (no temporary file, nothing written) and its
//! `Packages(hnum, blob)` rows are read; the other two are read into memory and walked by
//! `bdb` and `ndb`.
//!
//! The files each header lists that a binary classifier could claim are reported as owned,
//! and its programs with the package.

mod bdb;
mod ndb;
mod package;
mod parse;

pub use package::identity;

use std::io::Read;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, MAIN_DB};

use super::{binary, is_program, CatalogError, Cataloger, Content, FileMeta, MAX_OWNED_PROGRAMS};
use crate::package::{Findings, OwnedProgram, Package};

pub use package::PROP_SOURCE_RPM;

/// Largest database read, whatever the backend; a full RHEL or Fedora install's is well
/// under 100 MiB.
const MAX_DB_SIZE: u64 = 256 << 20;
/// Directories rpm keeps its database in (`%_dbpath`), in any root (syft's `**/` globs).
const DB_DIRS: [&str; 3] = ["/var/lib/rpm/", "/usr/lib/sysimage/rpm/", "/usr/share/rpm/"];
/// Most headers read from one database; a full Fedora install has under 3,000 (the
/// fixture of a minimal install here: 3). Those after are not read.
const MAX_HEADERS: usize = 100_000;
/// Public keys imported with `rpm --import` are stored as headers of this name; they are
/// not software. Trivy skips them too (syft 1.18 reports them as packages).
const PUBKEY_NAME: &str = "gpg-pubkey";
/// Size of the sqlite file header, which holds the journal-mode bytes patched below.
const SQLITE_HEADER_SIZE: usize = 100;

/// The database files of rpm's backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    BerkeleyDb,
    Ndb,
}

impl Backend {
    /// The backend whose database file `path` is, when it lies in an rpm database directory.
    fn of(path: &str) -> Option<Backend> {
        let (_, name) = path.rsplit_once('/')?;
        let backend = match name {
            "rpmdb.sqlite" => Backend::Sqlite,
            "Packages" => Backend::BerkeleyDb,
            "Packages.db" => Backend::Ndb,
            _ => return None,
        };
        let dir = path.strip_suffix(name)?;
        DB_DIRS.iter().any(|d| dir.ends_with(d)).then_some(backend)
    }
}

/// Reads the rpm database: `rpmdb.sqlite`, `Packages` (Berkeley DB) or `Packages.db` (NDB).
pub struct RpmCataloger;

impl Cataloger for RpmCataloger {
    fn name(&self) -> &'static str {
        "rpm"
    }

    fn wants(&self, file: &FileMeta<'_>) -> bool {
        Backend::of(file.path).is_some()
    }

    fn catalog(&self, file: &FileMeta<'_>, content: Content<'_>) -> Result<Findings, CatalogError> {
        if file.size > MAX_DB_SIZE {
            return Err(CatalogError::TooLarge { limit: MAX_DB_SIZE });
        }
        match Backend::of(file.path) {
            Some(Backend::BerkeleyDb) => {
                let db = content.read_bounded(MAX_DB_SIZE)?;
                let headers =
                    bdb::values(&db).map_err(|e| CatalogError::Malformed(e.to_string()))?;
                let blobs = headers.blobs.iter().map(Vec::as_slice);
                return Ok(collect(blobs, headers.skipped, file.path));
            }
            Some(Backend::Ndb) => {
                let db = content.read_bounded(MAX_DB_SIZE)?;
                let headers =
                    ndb::blobs(&db).map_err(|e| CatalogError::Malformed(e.to_string()))?;
                return Ok(collect(
                    headers.blobs.into_iter(),
                    headers.skipped,
                    file.path,
                ));
            }
            Some(Backend::Sqlite) | None => {}
        }
        // The bound above makes this conversion lossless on every supported target.
        let size = usize::try_from(file.size)
            .map_err(|_| CatalogError::TooLarge { limit: MAX_DB_SIZE })?;
        let conn = match content {
            Content::Stream(reader) => open_db(reader, size)?,
            Content::File(reader) => open_db(reader, size)?,
        };
        read_packages(&conn, file.path)
    }
}

/// Opens `size` bytes of an sqlite database from `reader` as a read-only in-memory
/// database.
fn open_db(mut reader: impl Read, size: usize) -> Result<Connection, CatalogError> {
    let mut header = [0u8; SQLITE_HEADER_SIZE];
    if size < header.len() {
        return Err(malformed("shorter than an sqlite header"));
    }
    reader.read_exact(&mut header)?;
    // rpm keeps the database in WAL mode (header bytes 18 and 19 are 2), and sqlite
    // cannot open an in-memory database that asks for a WAL ("unable to open database
    // file"). Marking it rollback-journal (1) reads the same pages. A WAL file beside the
    // database would hold only what rpm had not checkpointed when the image was built.
    if header[18] == 2 && header[19] == 2 {
        header[18] = 1;
        header[19] = 1;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_in_memory_with_flags(flags).map_err(sqlite_error)?;
    conn.deserialize_read_exact(MAIN_DB, header.chain(reader), size, true)
        .map_err(sqlite_error)?;
    Ok(conn)
}

fn read_packages(conn: &Connection, path: &str) -> Result<Findings, CatalogError> {
    check_packages_table(conn)?;
    let mut stmt = conn
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(sqlite_error)?;
    let mut rows = stmt.query([]).map_err(sqlite_error)?;
    let mut found = Found::default();
    let mut read = 0;
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        read += 1;
        if read > MAX_HEADERS {
            found.stopped_at_limit = true;
            break;
        }
        let hnum: i64 = row.get(0).map_err(sqlite_error)?;
        let ValueRef::Blob(blob) = row.get_ref(1).map_err(sqlite_error)? else {
            tracing::warn!(path, hnum, "rpm header is not a blob; package skipped");
            found.skipped += 1;
            continue;
        };
        // One damaged header should not hide the rest of the database.
        if let Err(error) = found.add(blob, path) {
            tracing::warn!(path, hnum, %error, "unreadable rpm header; package skipped");
            found.skipped += 1;
        }
    }
    Ok(found.into_findings())
}

/// Header blobs read from a Berkeley DB or NDB file, and how many damaged ones were
/// skipped.
#[derive(Debug, Default)]
pub struct Headers<B> {
    pub blobs: Vec<B>,
    pub skipped: usize,
}

/// The packages and owned files of the headers read so far.
#[derive(Default)]
struct Found {
    packages: Vec<Package>,
    owned_files: Vec<String>,
    owned_programs: Vec<OwnedProgram>,
    /// Damaged headers skipped.
    skipped: usize,
    /// Whether there were more than [`MAX_HEADERS`] headers, those after not read.
    stopped_at_limit: bool,
}

impl Found {
    /// Adds one header's package, the files it owns that a binary classifier could claim
    /// and its programs. A damaged file list does not cost the package.
    fn add(&mut self, blob: &[u8], path: &str) -> Result<(), parse::HeaderError> {
        let record = parse::parse_header(blob)?;
        if record.name == PUBKEY_NAME {
            return Ok(());
        }
        // Programs are told by their directory: every bare name passes the first test.
        let wanted =
            |path: &str| !path.starts_with('/') || binary::is_candidate(path) || is_program(path);
        match parse::owned_files(blob, wanted) {
            Ok(files) => {
                for file in files {
                    if is_program(&file) && self.owned_programs.len() < MAX_OWNED_PROGRAMS {
                        self.owned_programs.push(OwnedProgram {
                            path: file.clone(),
                            package: record.name.clone(),
                        });
                    }
                    if binary::is_candidate(&file) {
                        self.owned_files.push(file);
                    }
                }
            }
            Err(error) => tracing::warn!(path, package = record.name, %error,
                "unreadable file list in an rpm header; its files are not owned"),
        }
        self.packages.push(package::to_package(record));
        Ok(())
    }

    fn into_findings(self) -> Findings {
        let mut incomplete = Vec::new();
        if self.skipped > 0 {
            incomplete.push(format!("skipped {} damaged package headers", self.skipped));
        }
        if self.stopped_at_limit {
            incomplete.push(super::records_note(MAX_HEADERS, "package headers"));
        }
        Findings {
            packages: self.packages,
            owned_files: self.owned_files,
            owned_programs: self.owned_programs,
            incomplete,
            ..Findings::default()
        }
    }
}

/// Decodes the header blobs of a Berkeley DB or NDB database, of which `skipped` were
/// too damaged to be read as blobs. Like the sqlite rows, one damaged header is skipped,
/// not fatal.
fn collect<'a>(blobs: impl Iterator<Item = &'a [u8]>, skipped: usize, path: &str) -> Findings {
    let mut found = Found {
        skipped,
        ..Found::default()
    };
    for (i, blob) in blobs.enumerate() {
        if i >= MAX_HEADERS {
            found.stopped_at_limit = true;
            break;
        }
        if let Err(error) = found.add(blob, path) {
            tracing::warn!(path, %error, "unreadable rpm header; package skipped");
            found.skipped += 1;
        }
    }
    found.into_findings()
}

/// Makes sure `Packages` is a plain table. A hostile image could ship a database whose
/// `Packages` is a view or has generated columns, turning a read into unbounded work.
fn check_packages_table(conn: &Connection) -> Result<(), CatalogError> {
    let sql: Option<String> = conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'Packages' AND type = 'table'",
            [],
            |row| row.get(0),
        )
        .map_err(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => malformed("no Packages table"),
            e => sqlite_error(e),
        })?;
    if sql.is_some_and(|sql| {
        sql.trim_start()
            .to_ascii_uppercase()
            .starts_with("CREATE VIRTUAL")
    }) {
        return Err(malformed("Packages is a virtual table"));
    }
    // table_xinfo's `hidden` column is 2 or 3 for generated columns.
    let generated: i64 = conn
        .query_row(
            "SELECT count(*) FROM pragma_table_xinfo('Packages') WHERE hidden IN (2, 3)",
            [],
            |row| row.get(0),
        )
        .map_err(sqlite_error)?;
    if generated > 0 {
        return Err(malformed("Packages has generated columns"));
    }
    Ok(())
}

fn malformed(reason: &str) -> CatalogError {
    CatalogError::Malformed(format!("rpmdb.sqlite: {reason}"))
}

fn sqlite_error(error: rusqlite::Error) -> CatalogError {
    CatalogError::Malformed(format!("rpmdb.sqlite: {error}"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::package::{Ecosystem, Identity, Package, SourcePackage};

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/catalog/rpm/testdata/var/lib/rpm/rpmdb.sqlite"
    );
    const IMAGE_PATH: &str = "/var/lib/rpm/rpmdb.sqlite";

    fn meta(path: &str, size: u64) -> FileMeta<'_> {
        FileMeta {
            path,
            size,
            mode: 0o644,
        }
    }

    fn catalog_bytes(bytes: &[u8]) -> Result<Findings, CatalogError> {
        let mut reader = bytes;
        RpmCataloger.catalog(
            &meta(IMAGE_PATH, bytes.len() as u64),
            Content::Stream(&mut reader),
        )
    }

    /// Rows of the fixture database written back into a copy of it, through sqlite.
    fn fixture_with(edit: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rpmdb.sqlite");
        std::fs::copy(FIXTURE, &path).unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(edit).unwrap();
        conn.execute_batch("PRAGMA journal_mode = DELETE;").unwrap();
        drop(conn);
        std::fs::read(&path).unwrap()
    }

    fn package(
        name: &str,
        version: &str,
        arch: &str,
        source: (&str, &str, &str),
        license: &str,
    ) -> Package {
        let (src_name, src_version, src_release) = source;
        Package {
            ecosystem: Ecosystem::Rpm,
            name: name.into(),
            version: version.into(),
            epoch: None,
            arch: Some(arch.into()),
            source: Some(SourcePackage {
                name: src_name.into(),
                version: Some(src_version.into()),
                release: Some(src_release.into()),
                epoch: None,
            }),
            licenses: vec![license.into()],
            cpe: None,
            properties: BTreeMap::from([(
                PROP_SOURCE_RPM.into(),
                format!("{src_name}-{src_version}-{src_release}.src.rpm"),
            )]),
            identity: Identity::default(),
        }
    }

    /// What `rpm -qa` printed for the fixture (see testdata/make-rpmdb.sh).
    fn fixture_packages() -> Vec<Package> {
        let mut acme = package(
            "acme-tools",
            "3.1.4-7.fc40",
            "x86_64",
            ("acme-tools", "3.1.4", "7.fc40"),
            "MIT AND Apache-2.0",
        );
        acme.epoch = Some(2);
        vec![
            acme,
            package(
                "greeter",
                "1.0-1",
                "noarch",
                ("greeter", "1.0", "1"),
                "GPL-2.0-or-later",
            ),
            package(
                "libgreet",
                "0.9-1",
                "noarch",
                ("greeter", "1.0", "1"),
                "LGPL-2.1-only",
            ),
        ]
        .into_iter()
        .map(|package| package.with_identity(identity))
        .collect()
    }

    fn sorted(mut findings: Findings) -> Vec<Package> {
        findings.packages.sort();
        findings.packages
    }

    #[test]
    fn wants_rpmdb_sqlite_in_every_rpm_database_directory() {
        for path in [
            "/var/lib/rpm/rpmdb.sqlite",
            "/usr/lib/sysimage/rpm/rpmdb.sqlite",
            "/usr/share/rpm/rpmdb.sqlite",
            "/mnt/sysroot/var/lib/rpm/rpmdb.sqlite",
        ] {
            assert!(RpmCataloger.wants(&meta(path, 1)), "{path}");
        }
    }

    #[test]
    fn wants_berkeley_db_and_ndb_databases_in_every_rpm_database_directory() {
        for dir in ["/var/lib/rpm/", "/usr/lib/sysimage/rpm/", "/usr/share/rpm/"] {
            for name in ["Packages", "Packages.db"] {
                let path = format!("/sysroot{dir}{name}");
                assert!(RpmCataloger.wants(&meta(&path, 1)), "{path}");
                assert!(
                    RpmCataloger.wants(&meta(&path["/sysroot".len()..], 1)),
                    "{path}"
                );
            }
        }
    }

    #[test]
    fn does_not_want_index_files_or_lookalikes() {
        for path in [
            "/var/lib/rpm/Name",
            "/var/lib/rpm/__db.001",
            "/var/lib/Packages",
            "/var/lib/rpm/Packages.db-journal",
            "/usr/lib/sysimage/rpm/Index.db",
            "/var/lib/rpm/rpmdb.sqlite-wal",
            "/var/lib/rpm/rpmdb.sqlite-shm",
            "/var/lib/rpmdb.sqlite",
            "/var/lib/rpm2/rpmdb.sqlite",
            "/root/rpmdb.sqlite",
        ] {
            assert!(!RpmCataloger.wants(&meta(path, 1)), "{path}");
        }
    }

    #[test]
    fn database_written_by_rpm_lists_its_packages_without_the_public_key() {
        let bytes = std::fs::read(FIXTURE).unwrap();
        assert_eq!(bytes[18..20], [2, 2], "rpm leaves its database in WAL mode");
        assert_eq!(sorted(catalog_bytes(&bytes).unwrap()), fixture_packages());
    }

    #[test]
    fn database_read_from_a_file_gives_the_same_packages_as_from_a_stream() {
        let mut file = std::fs::File::open(FIXTURE).unwrap();
        let size = file.metadata().unwrap().len();
        let findings = RpmCataloger
            .catalog(&meta(IMAGE_PATH, size), Content::File(&mut file))
            .unwrap();
        assert_eq!(sorted(findings), fixture_packages());
    }

    #[test]
    fn files_a_binary_classifier_could_claim_are_owned_whatever_the_backend() {
        // What make-rpmdb.sh's packages install that a classifier could read.
        let want = ["/usr/lib64/libpython3.12.so.1.0", "/usr/libexec/acme/node"];
        let sorted_files = |findings: Findings| {
            let mut files = findings.owned_files;
            files.sort();
            files
        };
        let sqlite = std::fs::read(FIXTURE).unwrap();
        assert_eq!(sorted_files(catalog_bytes(&sqlite).unwrap()), want);
        let bdb = std::fs::read(BDB_FIXTURE).unwrap();
        let found = catalog_at("/var/lib/rpm/Packages", &bdb).unwrap();
        assert_eq!(sorted_files(found), want);
        let ndb = ndb::tests::construct(&fixture_headers());
        let found = catalog_at("/usr/lib/sysimage/rpm/Packages.db", &ndb).unwrap();
        assert_eq!(sorted_files(found), want);
    }

    #[test]
    fn programs_are_kept_with_the_package_that_installed_them() {
        // make-rpmdb.sh's programs, by the package that installs them.
        let mut programs: Vec<_> = catalog_bytes(&std::fs::read(FIXTURE).unwrap())
            .unwrap()
            .owned_programs
            .into_iter()
            .map(|owned| (owned.path, owned.package))
            .collect();
        programs.sort();
        let pair = |path: &str, package: &str| (path.to_owned(), package.to_owned());
        assert_eq!(
            programs,
            [
                pair("/usr/bin/acme", "acme-tools"),
                pair("/usr/bin/greet", "greeter"),
                pair("/usr/libexec/acme/node", "acme-tools"),
            ]
        );
    }

    #[test]
    fn damaged_header_skips_only_that_package_and_is_noted() {
        let bytes = fixture_with("UPDATE Packages SET blob = substr(blob, 1, 40) WHERE hnum = (SELECT max(hnum) FROM Packages);");
        let findings = catalog_bytes(&bytes).unwrap();
        assert_eq!(findings.incomplete, ["skipped 1 damaged package headers"]);
        let found = sorted(findings);
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|p| fixture_packages().contains(p)));
    }

    #[test]
    fn headers_past_the_limit_are_not_read_and_the_stop_noted() {
        let headers: Vec<Vec<u8>> = fixture_headers()
            .into_iter()
            .filter(|h| parse::parse_header(h).unwrap().name != PUBKEY_NAME)
            .collect();
        let many: Vec<&[u8]> = headers
            .iter()
            .cycle()
            .take(MAX_HEADERS + 1)
            .map(Vec::as_slice)
            .collect();
        let findings = collect(many.into_iter(), 0, "/var/lib/rpm/Packages");
        assert_eq!(findings.packages.len(), MAX_HEADERS);
        assert_eq!(
            findings.incomplete,
            ["stopped after 100000 package headers (limit)"]
        );
    }

    #[test]
    fn complete_database_has_no_note() {
        let findings = catalog_bytes(&fixture_with("")).unwrap();
        assert!(findings.incomplete.is_empty());
    }

    #[test]
    fn database_without_packages_table_is_an_error() {
        let bytes = fixture_with("PRAGMA foreign_keys = OFF; DROP TABLE Packages;");
        assert!(matches!(
            catalog_bytes(&bytes),
            Err(CatalogError::Malformed(_))
        ));
    }

    #[test]
    fn packages_view_is_refused() {
        let bytes = fixture_with(
            "ALTER TABLE Packages RENAME TO Real; \
             CREATE VIEW Packages AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
             SELECT i AS hnum, x'00' AS blob FROM n;",
        );
        assert!(matches!(
            catalog_bytes(&bytes),
            Err(CatalogError::Malformed(_))
        ));
    }

    #[test]
    fn truncated_database_is_an_error_not_a_panic() {
        let bytes = std::fs::read(FIXTURE).unwrap();
        for len in [0, 50, 100, 4096, bytes.len() / 2] {
            assert!(
                catalog_bytes(&bytes[..len]).is_err(),
                "truncated to {len} bytes"
            );
        }
    }

    #[test]
    fn content_shorter_than_its_stated_size_is_an_error() {
        let bytes = std::fs::read(FIXTURE).unwrap();
        let mut reader = &bytes[..bytes.len() / 2];
        let result = RpmCataloger.catalog(
            &meta(IMAGE_PATH, bytes.len() as u64),
            Content::Stream(&mut reader),
        );
        assert!(result.is_err());
    }

    #[test]
    fn garbage_file_is_an_error() {
        let garbage: Vec<u8> = (0..65536u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        assert!(matches!(
            catalog_bytes(&garbage),
            Err(CatalogError::Malformed(_))
        ));
    }

    #[test]
    fn database_over_the_size_limit_is_refused_unread() {
        let mut reader: &[u8] = &[];
        let result = RpmCataloger.catalog(
            &meta(IMAGE_PATH, MAX_DB_SIZE + 1),
            Content::Stream(&mut reader),
        );
        assert!(matches!(result, Err(CatalogError::TooLarge { .. })));
    }

    const BDB_FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/catalog/rpm/testdata/var/lib/rpm/Packages"
    );

    fn catalog_at(path: &str, bytes: &[u8]) -> Result<Findings, CatalogError> {
        let mut reader = bytes;
        RpmCataloger.catalog(
            &meta(path, bytes.len() as u64),
            Content::Stream(&mut reader),
        )
    }

    /// The header blobs rpm wrote into the sqlite fixture, in header-number order.
    fn fixture_headers() -> Vec<Vec<u8>> {
        // Opened in memory, as the cataloger does: opening the file would leave WAL files.
        let bytes = std::fs::read(FIXTURE).unwrap();
        let conn = open_db(bytes.as_slice(), bytes.len()).unwrap();
        let mut stmt = conn
            .prepare("SELECT blob FROM Packages ORDER BY hnum")
            .unwrap();
        let rows = stmt.query_map([], |row| row.get::<_, Vec<u8>>(0)).unwrap();
        rows.map(Result::unwrap).collect()
    }

    #[test]
    fn berkeley_db_database_lists_its_packages_without_the_public_key() {
        let bytes = std::fs::read(BDB_FIXTURE).unwrap();
        let found = catalog_at("/var/lib/rpm/Packages", &bytes).unwrap();
        assert_eq!(sorted(found), fixture_packages());
    }

    #[test]
    fn berkeley_db_database_from_a_file_reads_the_same() {
        let mut file = std::fs::File::open(BDB_FIXTURE).unwrap();
        let size = file.metadata().unwrap().len();
        let findings = RpmCataloger
            .catalog(
                &meta("/var/lib/rpm/Packages", size),
                Content::File(&mut file),
            )
            .unwrap();
        assert_eq!(sorted(findings), fixture_packages());
    }

    #[test]
    fn ndb_database_lists_its_packages_without_the_public_key() {
        // Constructed (see ndb::tests::construct) around the real headers rpm wrote.
        let bytes = ndb::tests::construct(&fixture_headers());
        let found = catalog_at("/usr/lib/sysimage/rpm/Packages.db", &bytes).unwrap();
        assert_eq!(sorted(found), fixture_packages());
    }

    #[test]
    fn sqlite_database_under_the_berkeley_db_name_is_an_error() {
        let bytes = std::fs::read(FIXTURE).unwrap();
        for path in ["/var/lib/rpm/Packages", "/var/lib/rpm/Packages.db"] {
            assert!(matches!(
                catalog_at(path, &bytes),
                Err(CatalogError::Malformed(_))
            ));
        }
    }

    #[test]
    fn berkeley_db_over_the_size_limit_is_refused_unread() {
        let mut reader: &[u8] = &[];
        let result = RpmCataloger.catalog(
            &meta("/var/lib/rpm/Packages", MAX_DB_SIZE + 1),
            Content::Stream(&mut reader),
        );
        assert!(matches!(result, Err(CatalogError::TooLarge { .. })));
    }
}
