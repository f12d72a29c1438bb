-- nodebom collector schema, version 1. Times are Unix milliseconds (UTC).

-- One row per node of a cluster; `session` increases with every Sync of the node.
CREATE TABLE nodes (
    id            INTEGER PRIMARY KEY,
    cluster       TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    agent_version TEXT    NOT NULL,
    session       INTEGER NOT NULL,
    first_seen    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    UNIQUE (cluster, name)
);
CREATE INDEX nodes_by_last_seen ON nodes (last_seen);

-- One row per manifest digest, fleet-wide; written once, then only when the last node
-- that had the image drops it (names and last_seen are then kept here).
CREATE TABLE images (
    digest        TEXT    PRIMARY KEY,
    config_digest TEXT    NOT NULL,
    platform      TEXT    NOT NULL,
    diff_ids      TEXT    NOT NULL, -- JSON array, bottom layer first
    names         TEXT    NOT NULL, -- JSON array
    first_seen    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL
) WITHOUT ROWID;

-- Which node has which image; its last_seen is the node's.
CREATE TABLE node_images (
    node_id      INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    digest       TEXT    NOT NULL REFERENCES images (digest),
    index_digest TEXT    NOT NULL, -- '' when none
    names        TEXT    NOT NULL, -- JSON array, as this node knows the image
    first_seen   INTEGER NOT NULL,
    PRIMARY KEY (node_id, digest)
) WITHOUT ROWID;
CREATE INDEX node_images_by_digest ON node_images (digest);

-- Containers; a stopped one is kept (running = 0, last_seen = when it stopped) until
-- the history retention prunes it.
CREATE TABLE workloads (
    id           INTEGER PRIMARY KEY,
    node_id      INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    pod_uid      TEXT    NOT NULL,
    container    TEXT    NOT NULL,
    namespace    TEXT    NOT NULL,
    pod          TEXT    NOT NULL,
    digest       TEXT    NOT NULL,
    image        TEXT    NOT NULL,
    container_id TEXT    NOT NULL,
    running      INTEGER NOT NULL,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    UNIQUE (node_id, pod_uid, container)
);
CREATE INDEX workloads_by_digest ON workloads (digest, running);
CREATE INDEX workloads_stopped ON workloads (last_seen) WHERE running = 0;

-- One SBOM per manifest digest, fleet-wide; the document is zstd-compressed JSON.
CREATE TABLE sboms (
    digest          TEXT    PRIMARY KEY,
    spec_version    TEXT    NOT NULL,
    size            INTEGER NOT NULL,
    sha256          TEXT    NOT NULL,
    component_count INTEGER NOT NULL,
    stored_at       INTEGER NOT NULL,
    cluster         TEXT    NOT NULL,
    node            TEXT    NOT NULL,
    document        BLOB    NOT NULL
);

-- Distinct components across all SBOMs.
CREATE TABLE components (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL,
    version   TEXT NOT NULL,
    purl      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    purl_base TEXT NOT NULL, -- lower-cased pkg:type/namespace/name, '' without purl
    UNIQUE (purl, name, version, kind)
);
CREATE INDEX components_by_purl_base ON components (purl_base, version);
CREATE INDEX components_by_name ON components (name COLLATE NOCASE, version);

CREATE TABLE sbom_components (
    component_id INTEGER NOT NULL REFERENCES components (id),
    digest       TEXT    NOT NULL REFERENCES sboms (digest) ON DELETE CASCADE,
    PRIMARY KEY (component_id, digest)
) WITHOUT ROWID;
CREATE INDEX sbom_components_by_digest ON sbom_components (digest);

-- Which node builds the SBOM of a digest, until when. A failed build keeps its row,
-- with the reason, until `expires_at` so that no node retries it before then.
CREATE TABLE sbom_claims (
    digest        TEXT    PRIMARY KEY,
    node_id       INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    expires_at    INTEGER NOT NULL,
    failed_reason TEXT
) WITHOUT ROWID;
CREATE INDEX sbom_claims_by_node ON sbom_claims (node_id);

-- The Watch stream. AUTOINCREMENT: a sequence number is never reused, even after the
-- newest events were pruned.
CREATE TABLE events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    at              INTEGER NOT NULL,
    kind            INTEGER NOT NULL, -- 1 SBOM stored, 2 workload started, 3 stopped
    digest          TEXT    NOT NULL,
    cluster         TEXT    NOT NULL,
    node            TEXT    NOT NULL,
    namespace       TEXT    NOT NULL,
    pod             TEXT    NOT NULL,
    pod_uid         TEXT    NOT NULL,
    container       TEXT    NOT NULL,
    image           TEXT    NOT NULL,
    container_id    TEXT    NOT NULL,
    component_count INTEGER NOT NULL
);
CREATE INDEX events_by_time ON events (at);

-- Small facts: `events_pruned_through` = highest sequence number pruned.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
