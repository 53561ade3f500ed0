-- Schema 1: migrations record, settings, the transaction journal and its outbox.
-- Times are integer milliseconds since the Unix epoch (UTC); energies integer Wh.

CREATE TABLE schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE transactions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    connector      INTEGER NOT NULL CHECK (connector >= 1),
    id_tag         TEXT NOT NULL,
    started_at     INTEGER NOT NULL,
    meter_start_wh INTEGER NOT NULL,
    -- the CSMS's transactionId: NULL until StartTransaction.conf, -1 if it was given up
    csms_tx_id     INTEGER,
    -- idTagInfo.status of StartTransaction.conf
    start_status   TEXT,
    last_meter_wh  INTEGER NOT NULL,
    last_sample_at INTEGER NOT NULL,
    -- time spent without energy flowing, from consecutive meter readings
    idle_ms        INTEGER NOT NULL DEFAULT 0,
    stopped_at     INTEGER,
    meter_stop_wh  INTEGER,
    stop_reason    TEXT,
    cost           REAL,
    state          TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'stopped')),
    CHECK ((state = 'active') = (stopped_at IS NULL))
);
CREATE UNIQUE INDEX transactions_one_active_per_connector
    ON transactions (connector) WHERE state = 'active';
CREATE INDEX transactions_started_at ON transactions (started_at);

CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    tx_id           INTEGER NOT NULL REFERENCES transactions (id),
    action          TEXT NOT NULL
                    CHECK (action IN ('StartTransaction', 'MeterValues', 'StopTransaction')),
    payload         TEXT NOT NULL CHECK (json_valid(payload)),
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sent', 'acked', 'failed')),
    last_error      TEXT,
    settled_at      INTEGER
);
CREATE INDEX outbox_undelivered ON outbox (seq) WHERE state IN ('pending', 'sent');
CREATE INDEX outbox_tx ON outbox (tx_id);
