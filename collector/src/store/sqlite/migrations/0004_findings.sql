-- nodebom collector schema, version 4: findings read back from Dependency-Track (DT).

-- When a fetch of the project's findings was last queued (Unix ms).
ALTER TABLE dtrack_projects ADD COLUMN findings_asked INTEGER;

-- The findings DT has for each forwarded project (an image digest, or a cluster's own
-- copy `digest#cluster`) that count as exposure: suppressed and dismissed ones are not
-- kept. A fetch replaces the project's rows; `first_seen` survives it.
CREATE TABLE findings (
    project     TEXT    NOT NULL,
    digest      TEXT    NOT NULL, -- the image manifest digest of `project`
    finding_key TEXT    NOT NULL, -- SHA-256 of the vulnerability id and the package
    ids         TEXT    NOT NULL, -- ' ID ALIAS … ', upper case, to find by any id
    finding     TEXT    NOT NULL, -- JSON
    first_seen  INTEGER NOT NULL,
    fetched_at  INTEGER NOT NULL,
    PRIMARY KEY (project, finding_key)
) WITHOUT ROWID;
CREATE INDEX findings_by_digest ON findings (digest);
CREATE INDEX findings_by_key ON findings (finding_key);
