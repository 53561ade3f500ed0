//! The authorization policy (pure): who may charge, from what the site knows about an idTag
//! (the CSMS-managed local list, the authorization cache), whether the CSMS can be asked, and
//! the OCPP 1.6 keys that govern it.
//!
//! - Online, an id is sent to the CSMS (Authorize); with `LocalPreAuthorize` an id the list or
//!   the cache holds as valid starts at once. An id held as not valid is always asked about.
//! - Offline (or when the CSMS does not answer), `LocalAuthorizeOffline` lets ids the list or the
//!   cache holds as valid charge; ids they hold as blocked, expired or invalid (or whose expiry
//!   date passed) are refused whatever the other keys say; unknown ids charge only with
//!   `AllowOfflineTxForUnknownId`, and then within a risk cap (energy and duration).
//! - The local list takes priority over the cache; list entries are never copied into the
//!   cache.
//! - When the CSMS rejects an id after its transaction started (StartTransaction.conf),
//!   `MaxEnergyOnInvalidId` lets a little more energy flow, then `StopTransactionOnInvalidId`
//!   stops the transaction (reason DeAuthorized) or only stops the energy.
//!
//! idTags compare case-insensitively and are forwarded as received.

use crate::ocpp::messages::AuthorizationStatus;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What the list or the cache (or an answer of the CSMS) says about an idTag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub status: AuthorizationStatus,
    /// After this instant an Accepted id counts as expired.
    pub expiry: Option<DateTime<Utc>>,
}

impl Known {
    /// Accepted and not expired at `now`.
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.status == AuthorizationStatus::Accepted && self.expiry.is_none_or(|e| e > now)
    }

    /// The status at `now`: an Accepted id past its expiry date is Expired.
    pub fn status_at(&self, now: DateTime<Utc>) -> AuthorizationStatus {
        if self.status == AuthorizationStatus::Accepted && !self.valid_at(now) {
            AuthorizationStatus::Expired
        } else {
            self.status
        }
    }
}

/// The most an unknown id may take while the CSMS cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskCap {
    pub max_energy_wh: f64,
    /// Measured on the monotonic clock from the start: a change of the wall clock neither
    /// ends the session early nor lets it run on.
    pub max_duration: Duration,
}

impl RiskCap {
    /// The cap from `[auth]`.
    pub fn from_config(a: &crate::config::schema::Auth) -> RiskCap {
        RiskCap {
            max_energy_wh: (a.unknown_id_max_energy_kwh * 1000.0).max(0.0),
            max_duration: Duration::from_millis(
                (a.unknown_id_max_duration_min.max(0.0) * 60_000.0) as u64,
            ),
        }
    }

    /// True once a session has taken `energy_wh` over `elapsed` and this is too much.
    pub fn exceeded(&self, energy_wh: f64, elapsed: Duration) -> bool {
        energy_wh >= self.max_energy_wh || elapsed >= self.max_duration
    }
}

/// The keys of the policy (OCPP configuration keys, seeded from `[auth]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub local_pre_authorize: bool,
    pub local_authorize_offline: bool,
    pub allow_offline_tx_for_unknown_id: bool,
    pub cache_enabled: bool,
    pub list_enabled: bool,
    pub risk_cap: RiskCap,
}

/// What the site holds about an id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Local {
    pub list: Option<Known>,
    pub cache: Option<Known>,
}

impl Local {
    /// The entry that counts: the list's (if enabled), else the cache's (if enabled).
    fn entry(&self, s: &Settings) -> Option<(Known, Source)> {
        let list = self.list.filter(|_| s.list_enabled);
        let cache = self.cache.filter(|_| s.cache_enabled);
        list.map(|k| (k, Source::LocalList))
            .or(cache.map(|k| (k, Source::Cache)))
    }
}

/// Where an acceptance came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    LocalList,
    Cache,
    Csms,
    /// Unknown to the site, accepted offline within the risk cap.
    OfflineUnknown,
    /// The site has no CSMS (or gives energy freely): no authorization is asked.
    Free,
}

/// The outcome for an id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Accepted {
        source: Source,
        /// Set for ids accepted offline without being known.
        cap: Option<RiskCap>,
    },
    Refused(AuthorizationStatus),
}

impl Verdict {
    pub fn accepted(&self) -> bool {
        matches!(self, Verdict::Accepted { .. })
    }
}

/// What to do with an id before asking the CSMS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    Decided(Verdict),
    /// Send Authorize (the answer, or its absence, goes to [`after_asking`]).
    AskCsms,
}

/// Decide locally if `LocalPreAuthorize` allows it, else ask the CSMS.
pub fn before_asking(s: &Settings, local: &Local, now: DateTime<Utc>) -> Step {
    match local.entry(s) {
        Some((k, source)) if s.local_pre_authorize && k.valid_at(now) => {
            Step::Decided(Verdict::Accepted { source, cap: None })
        }
        _ => Step::AskCsms,
    }
}

/// The verdict once the CSMS answered (`Some`), or could not be asked (`None`: offline rules).
pub fn after_asking(
    s: &Settings,
    local: &Local,
    answer: Option<&Known>,
    now: DateTime<Utc>,
) -> Verdict {
    match answer {
        Some(k) if k.valid_at(now) => Verdict::Accepted {
            source: Source::Csms,
            cap: None,
        },
        Some(k) => Verdict::Refused(k.status_at(now)),
        None => offline(s, local, now),
    }
}

/// The offline rules.
pub fn offline(s: &Settings, local: &Local, now: DateTime<Utc>) -> Verdict {
    match local.entry(s) {
        Some((k, _)) if !k.valid_at(now) => Verdict::Refused(k.status_at(now)),
        Some((_, source)) if s.local_authorize_offline => Verdict::Accepted { source, cap: None },
        // Unknown, or known but local authorization is off: only the unknown-id rule is left.
        _ if s.allow_offline_tx_for_unknown_id => Verdict::Accepted {
            source: Source::OfflineUnknown,
            cap: Some(s.risk_cap),
        },
        _ => Verdict::Refused(AuthorizationStatus::Invalid),
    }
}

/// Whether an IdTagInfo from the CSMS goes into the cache: only with the cache enabled, and never
/// for ids the local list holds.
pub fn cacheable(s: &Settings, local: &Local) -> bool {
    s.cache_enabled && local.list.is_none()
}

/// What a late rejection (StartTransaction.conf not Accepted) does to a running transaction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LateRejection {
    /// Keep delivering until the transaction's energy reaches `until_wh`, then apply `then`.
    Allow { until_wh: f64, then: AfterRejection },
    /// Apply it now.
    Now(AfterRejection),
}

/// `StopTransactionOnInvalidId`: stop the transaction, or only the energy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterRejection {
    /// Stop with reason DeAuthorized.
    Stop,
    /// Keep the transaction open without energy until the car leaves.
    Suspend,
}

/// The rule for a transaction whose id the CSMS rejected after `delivered_wh` had flowed.
pub fn late_rejection(
    stop_on_invalid: bool,
    max_energy_on_invalid_wh: f64,
    delivered_wh: f64,
) -> LateRejection {
    let then = if stop_on_invalid {
        AfterRejection::Stop
    } else {
        AfterRejection::Suspend
    };
    if max_energy_on_invalid_wh > 0.0 && delivered_wh < max_energy_on_invalid_wh {
        LateRejection::Allow {
            until_wh: max_energy_on_invalid_wh,
            then,
        }
    } else {
        LateRejection::Now(then)
    }
}

/// idTags compare case-insensitively.
pub fn same_id(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use AuthorizationStatus::*;
    use chrono::{TimeDelta, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap()
    }

    fn settings() -> Settings {
        Settings {
            local_pre_authorize: false,
            local_authorize_offline: true,
            allow_offline_tx_for_unknown_id: false,
            cache_enabled: true,
            list_enabled: true,
            risk_cap: RiskCap {
                max_energy_wh: 20_000.0,
                max_duration: Duration::from_secs(240 * 60),
            },
        }
    }

    fn known(status: AuthorizationStatus) -> Option<Known> {
        Some(Known {
            status,
            expiry: None,
        })
    }

    fn list(status: AuthorizationStatus) -> Local {
        Local {
            list: known(status),
            cache: None,
        }
    }

    fn cache(status: AuthorizationStatus) -> Local {
        Local {
            list: None,
            cache: known(status),
        }
    }

    const ACCEPTED_CSMS: Verdict = Verdict::Accepted {
        source: Source::Csms,
        cap: None,
    };

    #[test]
    fn online_asks_the_csms_unless_pre_authorized() {
        let mut s = settings();
        assert_eq!(before_asking(&s, &list(Accepted), now()), Step::AskCsms);
        s.local_pre_authorize = true;
        assert_eq!(
            before_asking(&s, &list(Accepted), now()),
            Step::Decided(Verdict::Accepted {
                source: Source::LocalList,
                cap: None
            })
        );
        assert_eq!(
            before_asking(&s, &cache(Accepted), now()),
            Step::Decided(Verdict::Accepted {
                source: Source::Cache,
                cap: None
            })
        );
        // Not valid locally: the CSMS decides.
        assert_eq!(before_asking(&s, &list(Blocked), now()), Step::AskCsms);
        assert_eq!(before_asking(&s, &Local::default(), now()), Step::AskCsms);
        // A disabled cache is not consulted.
        s.cache_enabled = false;
        assert_eq!(before_asking(&s, &cache(Accepted), now()), Step::AskCsms);
    }

    #[test]
    fn the_csms_answer_decides_when_there_is_one() {
        let s = settings();
        let ok = Known {
            status: Accepted,
            expiry: None,
        };
        assert_eq!(
            after_asking(&s, &list(Blocked), Some(&ok), now()),
            ACCEPTED_CSMS
        );
        let expired = Known {
            status: Accepted,
            expiry: Some(now() - TimeDelta::seconds(1)),
        };
        assert_eq!(
            after_asking(&s, &Local::default(), Some(&expired), now()),
            Verdict::Refused(Expired)
        );
        let blocked = Known {
            status: Blocked,
            expiry: None,
        };
        assert_eq!(
            after_asking(&s, &list(Accepted), Some(&blocked), now()),
            Verdict::Refused(Blocked)
        );
    }

    #[test]
    fn local_authorize_offline() {
        let mut s = settings();
        let from_list = Verdict::Accepted {
            source: Source::LocalList,
            cap: None,
        };
        assert_eq!(after_asking(&s, &list(Accepted), None, now()), from_list);
        assert_eq!(
            offline(&s, &cache(Accepted), now()),
            Verdict::Accepted {
                source: Source::Cache,
                cap: None
            }
        );
        s.local_authorize_offline = false;
        assert_eq!(
            offline(&s, &list(Accepted), now()),
            Verdict::Refused(Invalid)
        );
    }

    #[test]
    fn blocked_expired_and_invalid_ids_are_refused_offline_whatever_the_keys() {
        let mut s = settings();
        s.allow_offline_tx_for_unknown_id = true;
        for status in [Blocked, Expired, Invalid] {
            assert_eq!(offline(&s, &list(status), now()), Verdict::Refused(status));
            assert_eq!(offline(&s, &cache(status), now()), Verdict::Refused(status));
        }
        let lapsed = Local {
            list: Some(Known {
                status: Accepted,
                expiry: Some(now() - TimeDelta::minutes(1)),
            }),
            cache: None,
        };
        assert_eq!(offline(&s, &lapsed, now()), Verdict::Refused(Expired));
    }

    #[test]
    fn the_list_takes_priority_over_the_cache() {
        let s = settings();
        let both = Local {
            list: known(Blocked),
            cache: known(Accepted),
        };
        assert_eq!(offline(&s, &both, now()), Verdict::Refused(Blocked));
        let both = Local {
            list: known(Accepted),
            cache: known(Blocked),
        };
        assert!(offline(&s, &both, now()).accepted());
        // A disabled list leaves the cache.
        let s = Settings {
            list_enabled: false,
            ..s
        };
        assert_eq!(offline(&s, &both, now()), Verdict::Refused(Blocked));
        // List entries never go into the cache.
        assert!(!cacheable(&settings(), &list(Accepted)));
        assert!(cacheable(&settings(), &Local::default()));
        assert!(!cacheable(
            &Settings {
                cache_enabled: false,
                ..settings()
            },
            &Local::default()
        ));
    }

    #[test]
    fn unknown_ids_offline_only_with_the_key_and_then_capped() {
        let mut s = settings();
        assert_eq!(
            offline(&s, &Local::default(), now()),
            Verdict::Refused(Invalid)
        );
        s.allow_offline_tx_for_unknown_id = true;
        let v = offline(&s, &Local::default(), now());
        assert_eq!(
            v,
            Verdict::Accepted {
                source: Source::OfflineUnknown,
                cap: Some(s.risk_cap)
            }
        );
        let cap = s.risk_cap;
        let min = |m: u64| Duration::from_secs(m * 60);
        assert!(!cap.exceeded(19_999.0, min(239)));
        assert!(cap.exceeded(20_000.0, min(1)));
        assert!(cap.exceeded(10.0, min(240)));
    }

    #[test]
    fn risk_cap_from_config() {
        let a = crate::config::schema::Auth {
            unknown_id_max_energy_kwh: 30.0,
            unknown_id_max_duration_min: 90.0,
            ..Default::default()
        };
        let cap = RiskCap::from_config(&a);
        assert_eq!(cap.max_energy_wh, 30_000.0);
        assert_eq!(cap.max_duration, Duration::from_secs(90 * 60));
    }

    #[test]
    fn late_rejection_rules() {
        use AfterRejection::*;
        assert_eq!(late_rejection(true, 0.0, 500.0), LateRejection::Now(Stop));
        assert_eq!(
            late_rejection(false, 0.0, 500.0),
            LateRejection::Now(Suspend)
        );
        assert_eq!(
            late_rejection(true, 2000.0, 500.0),
            LateRejection::Allow {
                until_wh: 2000.0,
                then: Stop
            }
        );
        assert_eq!(
            late_rejection(true, 2000.0, 2500.0),
            LateRejection::Now(Stop)
        );
    }

    #[test]
    fn ids_compare_without_case() {
        assert!(same_id("04A1b2C3", "04a1B2c3"));
        assert!(!same_id("04A1", "04A2"));
    }
}
