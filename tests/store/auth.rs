//! The local authorization list and the authorization cache.

use super::support::{new_store, temp_db};
use hubgate::store::Store;
use hubgate::store::auth::{
    AuthStatus, IdTagInfo, ListEntry, ListOutcome, ListUpdate, apply_local_list, cache_clear,
    cache_evict, cache_len, cache_lookup, cache_put, cache_touch, local_list_len,
    local_list_lookup, local_list_version,
};

fn info(status: AuthStatus, expiry: Option<i64>) -> IdTagInfo {
    IdTagInfo {
        status,
        expiry,
        parent_id_tag: None,
    }
}

fn entry(tag: &str, status: Option<AuthStatus>) -> ListEntry {
    ListEntry {
        id_tag: tag.into(),
        info: status.map(|s| info(s, None)),
    }
}

#[test]
fn the_local_list_takes_full_and_differential_updates() {
    let (_d, s) = new_store();
    let c = s.conn();
    assert_eq!(local_list_version(c).expect("version"), 0);
    let full = vec![
        entry("AbCd01", Some(AuthStatus::Accepted)),
        entry("blocked", Some(AuthStatus::Blocked)),
        entry("skipped", None),
    ];
    assert_eq!(
        apply_local_list(c, ListUpdate::Full, 5, &full, 10).expect("full"),
        ListOutcome::Accepted
    );
    assert_eq!(local_list_version(c).expect("version"), 5);
    assert_eq!(local_list_len(c).expect("len"), 2);
    let found = local_list_lookup(c, "ABCD01")
        .expect("lookup")
        .expect("case-insensitive");
    assert_eq!(found.id_tag, "AbCd01", "kept as received");
    assert_eq!(found.info.map(|i| i.status), Some(AuthStatus::Accepted));

    // Not newer: refused, nothing changes.
    let diff = vec![
        entry("BLOCKED", None),
        entry("new", Some(AuthStatus::Accepted)),
    ];
    assert_eq!(
        apply_local_list(c, ListUpdate::Differential, 5, &diff, 10).expect("diff"),
        ListOutcome::VersionMismatch
    );
    assert!(local_list_lookup(c, "new").expect("lookup").is_none());

    // An entry without idTagInfo deletes the tag (matched case-insensitively).
    assert_eq!(
        apply_local_list(c, ListUpdate::Differential, 6, &diff, 10).expect("diff"),
        ListOutcome::Accepted
    );
    assert!(local_list_lookup(c, "blocked").expect("lookup").is_none());
    assert!(local_list_lookup(c, "NEW").expect("lookup").is_some());
    assert_eq!(local_list_version(c).expect("version"), 6);

    // A full update replaces everything.
    let full = vec![entry("only", Some(AuthStatus::Expired))];
    apply_local_list(c, ListUpdate::Full, 7, &full, 10).expect("full");
    assert_eq!(local_list_len(c).expect("len"), 1);
    assert!(local_list_lookup(c, "abcd01").expect("lookup").is_none());
}

#[test]
fn a_list_update_beyond_the_maximum_length_changes_nothing() {
    let (_d, s) = new_store();
    let c = s.conn();
    let two = vec![
        entry("a", Some(AuthStatus::Accepted)),
        entry("b", Some(AuthStatus::Accepted)),
    ];
    apply_local_list(c, ListUpdate::Full, 1, &two, 2).expect("full");
    let more = vec![entry("c", Some(AuthStatus::Accepted))];
    assert_eq!(
        apply_local_list(c, ListUpdate::Differential, 2, &more, 2).expect("diff"),
        ListOutcome::Failed
    );
    assert_eq!(local_list_version(c).expect("version"), 1);
    assert_eq!(local_list_len(c).expect("len"), 2);
    assert!(local_list_lookup(c, "c").expect("lookup").is_none());
    assert_eq!(
        apply_local_list(c, ListUpdate::Full, -1, &two, 2).expect("negative"),
        ListOutcome::Failed
    );
    // Same tag twice in different case counts once.
    let dup = vec![
        entry("X", Some(AuthStatus::Accepted)),
        entry("x", Some(AuthStatus::Blocked)),
    ];
    assert_eq!(
        apply_local_list(c, ListUpdate::Full, 3, &dup, 1).expect("full"),
        ListOutcome::Accepted
    );
    let x = local_list_lookup(c, "X").expect("lookup").expect("x");
    assert_eq!(
        x.info.map(|i| i.status),
        Some(AuthStatus::Blocked),
        "the last one wins"
    );
}

#[test]
fn cache_entries_compare_case_insensitively_and_persist() {
    let (_d, path) = temp_db();
    {
        let s = Store::open(&path).expect("open");
        let c = s.conn();
        let mut i = info(AuthStatus::Accepted, Some(9_000));
        i.parent_id_tag = Some("Fleet".into());
        cache_put(c, "DeadBeef", &i, 100, 10).expect("put");
        cache_put(c, "DEADBEEF", &info(AuthStatus::Blocked, None), 200, 10).expect("update");
    }
    let s = Store::open(&path).expect("reopen");
    let e = cache_lookup(s.conn(), "deadbeef")
        .expect("lookup")
        .expect("found");
    assert_eq!(e.id_tag, "DEADBEEF");
    assert_eq!(e.info, info(AuthStatus::Blocked, None));
    assert_eq!(e.last_used, 200);
    assert_eq!(cache_len(s.conn()).expect("len"), 1);
    assert!(cache_touch(s.conn(), "DeAdBeEf", 300).expect("touch"));
    assert!(!cache_touch(s.conn(), "other", 300).expect("touch"));
    assert_eq!(cache_clear(s.conn()).expect("clear"), 1);
    assert!(
        cache_lookup(s.conn(), "deadbeef")
            .expect("lookup")
            .is_none()
    );
}

#[test]
fn cache_eviction_takes_invalid_and_expired_entries_first_then_least_recently_used() {
    let (_d, s) = new_store();
    let c = s.conn();
    let now = 10_000;
    let ok = info(AuthStatus::Accepted, None);
    cache_put(c, "old-ok", &ok, 1, 100).expect("put");
    cache_put(c, "mid-ok", &ok, 2, 100).expect("put");
    cache_put(c, "new-ok", &ok, 3, 100).expect("put");
    cache_put(
        c,
        "expired",
        &info(AuthStatus::Accepted, Some(now - 1)),
        50,
        100,
    )
    .expect("put");
    cache_put(c, "invalid", &info(AuthStatus::Invalid, None), 60, 100).expect("put");
    cache_put(
        c,
        "future",
        &info(AuthStatus::Accepted, Some(now + 1)),
        4,
        100,
    )
    .expect("put");
    cache_touch(c, "old-ok", 70).expect("touch");
    let order = |c| {
        let mut left: Vec<String> = ["old-ok", "mid-ok", "new-ok", "expired", "invalid", "future"]
            .iter()
            .filter(|t| cache_lookup(c, t).expect("lookup").is_some())
            .map(|t| t.to_string())
            .collect();
        left.sort();
        left
    };
    assert_eq!(cache_evict(c, now, 5).expect("evict"), 1);
    assert_eq!(
        order(c),
        vec!["future", "invalid", "mid-ok", "new-ok", "old-ok"]
    );
    assert_eq!(cache_evict(c, now, 4).expect("evict"), 1);
    assert_eq!(order(c), vec!["future", "mid-ok", "new-ok", "old-ok"]);
    // Only valid entries left: least recently used first (old-ok was touched at 70).
    assert_eq!(cache_evict(c, now, 2).expect("evict"), 2);
    assert_eq!(order(c), vec!["future", "old-ok"]);
    // cache_put evicts too, never the entry it just stored.
    assert_eq!(cache_put(c, "newest", &ok, now, 2).expect("put"), 1);
    assert_eq!(order(c), vec!["old-ok"]);
    assert!(cache_lookup(c, "newest").expect("lookup").is_some());
}
