-- nodebom collector schema, version 3: exposure notifications.

-- Exposures worth a notification (KEV, or likely to be exploited, in a running
-- workload) that are open now, with what was said when they appeared (JSON). An
-- exposure that goes is deleted once its "resolved" notification is queued.
CREATE TABLE exposure_alerts (
    alert_key TEXT   PRIMARY KEY,
    payload   TEXT   NOT NULL,
    opened_at BIGINT NOT NULL
);

-- Webhook calls, persisted before they are tried; sent in `id` order per target.
-- `target` names a configured webhook (a hash of it: webhook URLs are secrets).
CREATE TABLE webhook_deliveries (
    id           BIGSERIAL PRIMARY KEY,
    target       TEXT   NOT NULL,
    body         TEXT   NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    leased_until BIGINT NOT NULL DEFAULT 0,
    leased_by    TEXT,
    last_error   TEXT
);
CREATE INDEX webhook_deliveries_by_target ON webhook_deliveries (target, id);

-- Exposure events (EVENT_KIND_EXPOSURE_APPEARED, _RESOLVED) name the vulnerability and
-- the package; `image` holds the image's name.
ALTER TABLE events ADD COLUMN vulnerability TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN package TEXT NOT NULL DEFAULT '';
