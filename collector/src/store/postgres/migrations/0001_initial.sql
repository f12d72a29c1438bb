-- nodebom collector schema on PostgreSQL, version 1: the SQLite schema of version 3,
-- plus leases on Dependency-Track actions so that several replicas share the outbox.
-- Times are Unix milliseconds (UTC).

-- One row per node of a cluster; `session` increases with every Sync of the node.
CREATE TABLE nodes (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cluster       TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    agent_version TEXT    NOT NULL,
    session       BIGINT  NOT NULL,
    first_seen    BIGINT  NOT NULL,
    last_seen     BIGINT  NOT NULL,
    UNIQUE (cluster, name)
);
CREATE INDEX nodes_by_last_seen ON nodes (last_seen);

-- One row per manifest digest, fleet-wide.
CREATE TABLE images (
    digest        TEXT    PRIMARY KEY,
    config_digest TEXT    NOT NULL,
    platform      TEXT    NOT NULL,
    diff_ids      TEXT    NOT NULL, -- JSON array, bottom layer first
    names         TEXT    NOT NULL, -- JSON array
    first_seen    BIGINT  NOT NULL,
    last_seen     BIGINT  NOT NULL
);

-- Which node has which image.
CREATE TABLE node_images (
    node_id      BIGINT  NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    digest       TEXT    NOT NULL REFERENCES images (digest),
    index_digest TEXT    NOT NULL, -- '' when none
    names        TEXT    NOT NULL, -- JSON array, as this node knows the image
    first_seen   BIGINT  NOT NULL,
    PRIMARY KEY (node_id, digest)
);
CREATE INDEX node_images_by_digest ON node_images (digest);

-- Containers; a stopped one is kept (running = false, last_seen = when it stopped)
-- until the history retention prunes it.
CREATE TABLE workloads (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node_id      BIGINT  NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    pod_uid      TEXT    NOT NULL,
    container    TEXT    NOT NULL,
    namespace    TEXT    NOT NULL,
    pod          TEXT    NOT NULL,
    digest       TEXT    NOT NULL,
    image        TEXT    NOT NULL,
    container_id TEXT    NOT NULL,
    running      BOOLEAN NOT NULL,
    first_seen   BIGINT  NOT NULL,
    last_seen    BIGINT  NOT NULL,
    UNIQUE (node_id, pod_uid, container)
);
CREATE INDEX workloads_by_digest ON workloads (digest, running);
CREATE INDEX workloads_stopped ON workloads (last_seen) WHERE NOT running;

-- The fleet copy of each digest's SBOM; the document is zstd-compressed JSON.
CREATE TABLE sboms (
    digest             TEXT    PRIMARY KEY,
    spec_version       TEXT    NOT NULL,
    size               BIGINT  NOT NULL,
    sha256             TEXT    NOT NULL,
    component_count    BIGINT  NOT NULL,
    stored_at          BIGINT  NOT NULL,
    cluster            TEXT    NOT NULL,
    node               TEXT    NOT NULL,
    agent_version      TEXT    NOT NULL,
    content_hash       TEXT    NOT NULL,
    incomplete         BOOLEAN NOT NULL,
    incomplete_reasons TEXT    NOT NULL, -- JSON array
    document           BYTEA   NOT NULL
);

-- Distinct components across all SBOMs. The texts come from images, up to 4 KiB each:
-- too long for a btree entry (2704 bytes), so identity and lookups go through SHA-256
-- keys the collector computes (see store/postgres/sboms.rs).
CREATE TABLE components (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    identity      BYTEA  NOT NULL UNIQUE, -- of purl, name, version and kind
    name          TEXT   NOT NULL,
    version       TEXT   NOT NULL,
    purl          TEXT   NOT NULL,
    kind          TEXT   NOT NULL,
    purl_base     TEXT   NOT NULL, -- lower-cased pkg:type/namespace/name, '' without purl
    purl_base_key BYTEA  NOT NULL, -- of purl_base
    name_key      BYTEA  NOT NULL  -- of the name, ASCII letters lower-cased
);
CREATE INDEX components_by_purl_base ON components (purl_base_key);
CREATE INDEX components_by_name ON components (name_key);

CREATE TABLE sbom_components (
    component_id BIGINT NOT NULL REFERENCES components (id),
    digest       TEXT   NOT NULL REFERENCES sboms (digest) ON DELETE CASCADE,
    PRIMARY KEY (component_id, digest)
);
CREATE INDEX sbom_components_by_digest ON sbom_components (digest);

-- Build claims per cluster: which node builds the digest's SBOM for its cluster, until
-- when. A failed build keeps its row, with the reason, until `expires_at`.
CREATE TABLE sbom_claims (
    digest        TEXT    NOT NULL,
    cluster       TEXT    NOT NULL,
    node_id       BIGINT  NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    expires_at    BIGINT  NOT NULL,
    failed_reason TEXT,
    PRIMARY KEY (digest, cluster)
);
CREATE INDEX sbom_claims_by_node ON sbom_claims (node_id);

-- What a cluster other than the fleet copy's found when it built the same image
-- (status 1 verified, 2 conflict, 3 unverified); with 2 and 3 its own document.
CREATE TABLE sbom_checks (
    digest             TEXT    NOT NULL REFERENCES sboms (digest) ON DELETE CASCADE,
    cluster            TEXT    NOT NULL,
    node               TEXT    NOT NULL,
    agent_version      TEXT    NOT NULL,
    status             INTEGER NOT NULL,
    note               TEXT    NOT NULL,
    content_hash       TEXT    NOT NULL,
    checked_at         BIGINT  NOT NULL,
    spec_version       TEXT,
    size               BIGINT,
    sha256             TEXT,
    component_count    BIGINT,
    incomplete         BOOLEAN,
    incomplete_reasons TEXT,
    document           BYTEA,
    PRIMARY KEY (digest, cluster)
);

CREATE TABLE sbom_check_components (
    component_id BIGINT NOT NULL REFERENCES components (id),
    digest       TEXT   NOT NULL,
    cluster      TEXT   NOT NULL,
    PRIMARY KEY (component_id, digest, cluster),
    FOREIGN KEY (digest, cluster) REFERENCES sbom_checks (digest, cluster) ON DELETE CASCADE
);
CREATE INDEX sbom_check_components_by_copy ON sbom_check_components (digest, cluster);

-- The Watch stream. Rows are inserted only under the events advisory lock, which is
-- held until commit: sequence order is commit order, so a reader never sees a gap that
-- fills in later.
CREATE TABLE events (
    seq             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              BIGINT  NOT NULL,
    kind            INTEGER NOT NULL, -- 1 SBOM stored, 2 workload started, 3 stopped, 4 conflict
    digest          TEXT    NOT NULL,
    cluster         TEXT    NOT NULL,
    node            TEXT    NOT NULL,
    namespace       TEXT    NOT NULL,
    pod             TEXT    NOT NULL,
    pod_uid         TEXT    NOT NULL,
    container       TEXT    NOT NULL,
    image           TEXT    NOT NULL,
    container_id    TEXT    NOT NULL,
    component_count BIGINT  NOT NULL
);
CREATE INDEX events_by_time ON events (at);

-- Small facts: `events_pruned_through` = highest sequence number pruned.
CREATE TABLE meta (
    key   TEXT   PRIMARY KEY,
    value BIGINT NOT NULL
);

-- One row per project key forwarded to Dependency-Track (DT).
CREATE TABLE dtrack_projects (
    digest      TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    sbom_sha256 TEXT    NOT NULL,
    tags        TEXT    NOT NULL, -- JSON object tag -> ms or null
    active      BOOLEAN NOT NULL,
    token       TEXT,
    UNIQUE (name, version)
);

-- DT actions, done in `id` order per project. A replica working on an action holds
-- its lease (`leased_until`); when that replica dies the lease runs out and another
-- replica takes the action.
CREATE TABLE dtrack_outbox (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest       TEXT    NOT NULL REFERENCES dtrack_projects (digest),
    action       TEXT    NOT NULL, -- JSON
    attempts     INTEGER NOT NULL,
    next_at      BIGINT  NOT NULL,
    last_error   TEXT,
    leased_until BIGINT  NOT NULL DEFAULT 0,
    leased_by    TEXT    NOT NULL DEFAULT '' -- the replica (host:pid) working on it
);
CREATE INDEX dtrack_outbox_by_digest ON dtrack_outbox (digest, id);

-- Actions DT refused for good.
CREATE TABLE dtrack_failures (
    id      BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      BIGINT  NOT NULL,
    digest  TEXT    NOT NULL,
    project TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    status  INTEGER,
    message TEXT    NOT NULL
);
