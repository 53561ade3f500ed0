-- Schema 3: history for operator reports.

CREATE TABLE status_changes (
    id         INTEGER PRIMARY KEY,
    connector  INTEGER NOT NULL CHECK (connector >= 0),
    status     TEXT NOT NULL,
    error_code TEXT NOT NULL,
    info       TEXT,
    at         INTEGER NOT NULL
);
CREATE INDEX status_changes_at ON status_changes (at);
CREATE INDEX status_changes_connector ON status_changes (connector, at);

-- Site-level samples; span_ms is the period a row stands for (rows are merged as they age).
CREATE TABLE site_samples (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    span_ms    INTEGER NOT NULL CHECK (span_ms > 0),
    l1_a       REAL,
    l2_a       REAL,
    l3_a       REAL,
    power_w    REAL,
    limit_l1_a REAL,
    limit_l2_a REAL,
    limit_l3_a REAL,
    curtailed  INTEGER NOT NULL CHECK (curtailed IN (0, 1))
);
CREATE INDEX site_samples_at ON site_samples (at);

CREATE TABLE alerts (
    id         INTEGER PRIMARY KEY,
    key        TEXT NOT NULL,
    severity   TEXT NOT NULL,
    message    TEXT NOT NULL,
    raised_at  INTEGER NOT NULL,
    cleared_at INTEGER
);
CREATE UNIQUE INDEX alerts_one_open_per_key ON alerts (key) WHERE cleared_at IS NULL;
CREATE INDEX alerts_raised_at ON alerts (raised_at);
