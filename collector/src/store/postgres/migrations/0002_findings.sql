-- nodebom collector schema, version 2: findings read back from Dependency-Track (DT).

-- When a fetch of the project's findings was last queued (Unix ms).
ALTER TABLE dtrack_projects ADD COLUMN findings_asked BIGINT;

-- The findings DT has for each forwarded project (an image digest, or a cluster's own
-- copy `digest#cluster`) that count as exposure: suppressed and dismissed ones are not
-- kept. A fetch replaces the project's rows; `first_seen` survives it.
CREATE TABLE findings (
    project     TEXT    NOT NULL,
    digest      TEXT    NOT NULL, -- the image manifest digest of `project`
    finding_key TEXT    NOT NULL, -- SHA-256 of the vulnerability id and the package
    ids         TEXT    NOT NULL, -- ' ID ALIAS … ', upper case, to find by any id
    finding     TEXT    NOT NULL, -- JSON
    first_seen  BIGINT  NOT NULL,
    fetched_at  BIGINT  NOT NULL,
    PRIMARY KEY (project, finding_key)
);
CREATE INDEX findings_by_digest ON findings (digest);
CREATE INDEX findings_by_key ON findings (finding_key);
