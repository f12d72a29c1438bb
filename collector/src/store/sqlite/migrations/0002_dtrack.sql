-- nodebom collector schema, version 2: forwarding to Dependency-Track (DT).

-- One row per image digest forwarded to DT. The project's name and version are chosen
-- once, when the digest is first forwarded, and never move. `tags` maps each tag
-- nodebom manages on the project to when it stopped being wanted (Unix ms, null while
-- wanted); `tags` and `active` are what the outbox was last asked to make true.
CREATE TABLE dtrack_projects (
    digest      TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    sbom_sha256 TEXT    NOT NULL, -- of the SBOM last queued for upload
    tags        TEXT    NOT NULL, -- JSON object tag -> ms or null
    active      INTEGER NOT NULL,
    token       TEXT,             -- DT processing token of the last upload
    UNIQUE (name, version)
) WITHOUT ROWID;

-- DT actions, persisted before they are tried; done in `id` order per digest.
CREATE TABLE dtrack_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    digest     TEXT    NOT NULL REFERENCES dtrack_projects (digest),
    action     TEXT    NOT NULL, -- JSON
    attempts   INTEGER NOT NULL,
    next_at    INTEGER NOT NULL,
    last_error TEXT
);
CREATE INDEX dtrack_outbox_by_digest ON dtrack_outbox (digest, id);

-- Actions DT refused for good (400/401/403/404/409): reported, not retried.
CREATE TABLE dtrack_failures (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    digest  TEXT    NOT NULL,
    project TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    status  INTEGER,
    message TEXT    NOT NULL
);
