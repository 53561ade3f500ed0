-- Schema 2: the CSMS-managed local authorization list and the authorization cache.
-- tag_key is the idTag folded to lower case (idTags compare case-insensitively);
-- id_tag keeps it as received.

CREATE TABLE local_list_meta (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO local_list_meta (id, version) VALUES (1, 0);

CREATE TABLE local_list (
    tag_key       TEXT PRIMARY KEY,
    id_tag        TEXT NOT NULL,
    status        TEXT NOT NULL,
    expiry        INTEGER,
    parent_id_tag TEXT
) WITHOUT ROWID;

CREATE TABLE auth_cache (
    tag_key       TEXT PRIMARY KEY,
    id_tag        TEXT NOT NULL,
    status        TEXT NOT NULL,
    expiry        INTEGER,
    parent_id_tag TEXT,
    last_used     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX auth_cache_last_used ON auth_cache (last_used);
