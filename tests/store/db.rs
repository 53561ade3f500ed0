//! Opening: our own file, foreign and damaged files, schema versions, migrations.

use super::support::{bytes, start, temp_db};
use hubgate::store::migrations::{MIGRATIONS, migrate};
use hubgate::store::{APPLICATION_ID, SCHEMA_VERSION, Store, StoreError, journal, settings};
use rand::RngCore;
use rusqlite::Connection;
use std::path::Path;

fn pragma_i64(conn: &Connection, name: &str) -> i64 {
    conn.pragma_query_value(None, name, |r| r.get(0))
        .expect("pragma")
}

#[test]
fn a_new_database_is_marked_migrated_and_set_up_for_durability() {
    let (_dir, path) = temp_db();
    let store = Store::open(&path).expect("open");
    let c = store.conn();
    assert_eq!(pragma_i64(c, "application_id"), i64::from(APPLICATION_ID));
    assert_eq!(pragma_i64(c, "user_version"), SCHEMA_VERSION);
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
    let mode: String = c
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    assert_eq!(pragma_i64(c, "synchronous"), 2, "synchronous = FULL");
    assert_eq!(pragma_i64(c, "foreign_keys"), 1);
    assert!(pragma_i64(c, "busy_timeout") > 0);
    let recorded: Vec<i64> = c
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(recorded, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    // The mark is in the main file itself, not only in the write-ahead log.
    let header = bytes(&path);
    assert_eq!(&header[68..72], &APPLICATION_ID.to_be_bytes());
}

#[test]
fn opening_twice_keeps_the_data() {
    let (_dir, path) = temp_db();
    {
        let store = Store::open(&path).expect("open");
        settings::set(store.conn(), "HeartbeatInterval", "300", 1).expect("set");
        start(store.conn(), 1, "tag", 1000, 5);
    }
    let store = Store::open(&path).expect("reopen");
    assert_eq!(
        settings::get(store.conn(), "HeartbeatInterval").expect("get"),
        Some("300".into())
    );
    let open = journal::open_transactions(store.conn()).expect("open transactions");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].meter_start_wh, 1000);
}

#[test]
fn an_empty_file_is_adopted() {
    let (_dir, path) = temp_db();
    std::fs::write(&path, b"").expect("touch");
    let store = Store::open(&path).expect("open empty file");
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
}

fn assert_refused_untouched(path: &Path, check: impl Fn(&StoreError) -> bool) {
    let before = bytes(path);
    let siblings_before = siblings(path);
    let err = Store::open(path).expect_err("must be refused");
    assert!(check(&err), "unexpected error: {err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(bytes(path), before, "the refused file was changed");
    assert_eq!(
        siblings(path),
        siblings_before,
        "files were created next to it"
    );
    let err = Store::open_read_only(path).expect_err("must be refused read-only too");
    assert!(check(&err), "unexpected read-only error: {err}");
    assert_eq!(bytes(path), before, "the refused file was changed");
}

fn siblings(path: &Path) -> Vec<String> {
    let dir = path.parent().expect("parent");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_database_of_another_application_is_refused_untouched() {
    let (_dir, path) = temp_db();
    {
        let c = Connection::open(&path).expect("create");
        c.execute_batch(
            "PRAGMA application_id = 1234; CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); \
             INSERT INTO invoices (total) VALUES (9.5);",
        )
        .expect("foreign schema");
    }
    assert_refused_untouched(
        &path,
        |e| matches!(e, StoreError::Foreign { reason, .. } if reason.contains("application id")),
    );
}

#[test]
fn a_database_without_application_id_but_with_tables_is_refused_untouched() {
    let (_dir, path) = temp_db();
    {
        let c = Connection::open(&path).expect("create");
        c.execute_batch("CREATE TABLE transactions (x); INSERT INTO transactions VALUES (1);")
            .expect("foreign schema");
    }
    assert_refused_untouched(&path, |e| matches!(e, StoreError::Foreign { .. }));
}

#[test]
fn a_garbage_file_is_refused_untouched() {
    let (_dir, path) = temp_db();
    let mut junk = vec![0u8; 8192];
    rand::rng().fill_bytes(&mut junk);
    std::fs::write(&path, &junk).expect("write junk");
    assert_refused_untouched(&path, |e| matches!(e, StoreError::Corrupt { .. }));
}

#[test]
fn a_short_text_file_is_refused_untouched() {
    let (_dir, path) = temp_db();
    std::fs::write(&path, b"[site]\nname = \"depot\"\n").expect("write");
    assert_refused_untouched(&path, |e| matches!(e, StoreError::Corrupt { .. }));
}

/// A hubgate database with enough rows to span many pages, checkpointed into the main file.
fn filled_database(path: &Path) {
    let store = Store::open(path).expect("open");
    for i in 0..400 {
        settings::set(store.conn(), &format!("key.{i:04}"), &"x".repeat(200), i).expect("set");
    }
    store
        .conn()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .expect("checkpoint");
}

#[test]
fn a_truncated_database_is_refused_untouched() {
    let (_dir, path) = temp_db();
    filled_database(&path);
    let full = bytes(&path);
    assert!(
        full.len() > 16 * 4096,
        "the test database is too small: {}",
        full.len()
    );
    std::fs::write(&path, &full[..full.len() / 2]).expect("truncate");
    assert_refused_untouched(&path, |e| matches!(e, StoreError::Corrupt { .. }));
}

#[test]
fn a_database_with_damaged_pages_is_refused_untouched() {
    let (_dir, path) = temp_db();
    filled_database(&path);
    let mut data = bytes(&path);
    let page = 4096;
    let mut noise = vec![0u8; 2 * page];
    rand::rng().fill_bytes(&mut noise);
    data[3 * page..5 * page].copy_from_slice(&noise);
    std::fs::write(&path, &data).expect("damage");
    assert_refused_untouched(&path, |e| matches!(e, StoreError::Corrupt { .. }));
}

#[test]
fn a_database_from_a_newer_schema_is_refused_untouched() {
    let (_dir, path) = temp_db();
    {
        let store = Store::open(&path).expect("open");
        store
            .conn()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump version");
        store
            .conn()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE")
            .expect("checkpoint");
    }
    assert_refused_untouched(&path, |e| {
        matches!(e, StoreError::TooNew { found, supported, .. }
            if *found == SCHEMA_VERSION + 1 && *supported == SCHEMA_VERSION)
    });
}

#[test]
fn migrations_are_numbered_in_order_and_idempotent() {
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert_eq!(m.version, i as i64 + 1, "migration {} out of order", m.name);
    }
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path).expect("open");
    assert!(migrate(store.conn_mut()).expect("migrate again").is_empty());
    drop(store);
    let store = Store::open(&path).expect("reopen");
    let n: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, SCHEMA_VERSION);
}

#[test]
fn an_older_schema_is_migrated_forward_keeping_its_data() {
    let (_dir, path) = temp_db();
    {
        // A database as the first release left it: only migration 1.
        let c = Connection::open(&path).expect("create");
        c.pragma_update(None, "application_id", APPLICATION_ID)
            .expect("mark");
        c.execute_batch(MIGRATIONS[0].sql).expect("migration 1");
        c.execute("INSERT INTO schema_migrations VALUES (1, 'journal', 0)", [])
            .expect("record");
        c.pragma_update(None, "user_version", 1).expect("version");
        settings::set(&c, "kept", "yes", 0).expect("set");
    }
    let ro = Store::open_read_only(&path).expect_err("old schema is not readable");
    assert!(
        matches!(ro, StoreError::NeedsMigration { found: 1, .. }),
        "{ro}"
    );
    let store = Store::open(&path).expect("open and migrate");
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
    assert_eq!(
        settings::get(store.conn(), "kept").expect("get"),
        Some("yes".into())
    );
}

#[test]
fn read_only_sees_committed_data_and_cannot_write() {
    let (_dir, path) = temp_db();
    let store = Store::open(&path).expect("open");
    settings::set(store.conn(), "a", "1", 0).expect("set");
    let ro = Store::open_read_only(&path).expect("open read-only");
    assert_eq!(
        settings::get(ro.conn(), "a").expect("get"),
        Some("1".into())
    );
    settings::set(store.conn(), "a", "2", 1).expect("set again");
    assert_eq!(
        settings::get(ro.conn(), "a").expect("get"),
        Some("2".into())
    );
    assert!(settings::set(ro.conn(), "b", "1", 0).is_err());
}

#[test]
fn read_only_refuses_a_missing_file_without_creating_it() {
    let (_dir, path) = temp_db();
    let err = Store::open_read_only(&path).expect_err("missing");
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert!(!path.exists());
}

#[test]
fn settings_round_trip_and_availability_persists() {
    use hubgate::store::settings::{Availability, availability, set_availability};
    let (_dir, path) = temp_db();
    {
        let store = Store::open(&path).expect("open");
        let c = store.conn();
        settings::set(c, "b", "2", 1).expect("set");
        settings::set(c, "a", "1", 1).expect("set");
        settings::set(c, "a", "3", 2).expect("overwrite");
        assert_eq!(
            availability(c, 2).expect("default"),
            Availability::Operative
        );
        set_availability(c, 2, Availability::Inoperative, 3).expect("set");
        assert!(settings::remove(c, "b").expect("remove"));
        assert!(!settings::remove(c, "b").expect("remove again"));
    }
    let store = Store::open(&path).expect("reopen");
    let c = store.conn();
    assert_eq!(availability(c, 2).expect("get"), Availability::Inoperative);
    assert_eq!(
        settings::all(c).expect("all"),
        vec![
            ("a".to_string(), "3".to_string()),
            (
                "connector.2.availability".to_string(),
                "Inoperative".to_string()
            )
        ]
    );
    settings::set(c, "connector.1.availability", "Sideways", 4).expect("set junk");
    assert!(matches!(
        availability(c, 1),
        Err(StoreError::BadValue { .. })
    ));
}
