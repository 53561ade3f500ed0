//! Between the store's authorization records and OCPP's.

use crate::auth::Known;
use crate::ocpp::messages::{AuthorizationStatus, CiString20, IdTagInfo as OcppInfo, Timestamp};
use crate::store::auth::{AuthStatus, IdTagInfo as StoreInfo};
use chrono::{TimeZone, Utc};

pub fn auth_status(s: AuthorizationStatus) -> AuthStatus {
    match s {
        AuthorizationStatus::Accepted => AuthStatus::Accepted,
        AuthorizationStatus::Blocked => AuthStatus::Blocked,
        AuthorizationStatus::Expired => AuthStatus::Expired,
        AuthorizationStatus::Invalid => AuthStatus::Invalid,
        AuthorizationStatus::ConcurrentTx => AuthStatus::ConcurrentTx,
    }
}

pub fn ocpp_status(s: AuthStatus) -> AuthorizationStatus {
    match s {
        AuthStatus::Accepted => AuthorizationStatus::Accepted,
        AuthStatus::Blocked => AuthorizationStatus::Blocked,
        AuthStatus::Expired => AuthorizationStatus::Expired,
        AuthStatus::Invalid => AuthorizationStatus::Invalid,
        AuthStatus::ConcurrentTx => AuthorizationStatus::ConcurrentTx,
    }
}

pub fn to_store(i: &OcppInfo) -> StoreInfo {
    StoreInfo {
        status: auth_status(i.status),
        expiry: i.expiry_date.map(|t| t.0.timestamp_millis()),
        parent_id_tag: i.parent_id_tag.as_ref().map(|p| p.as_str().to_string()),
    }
}

pub fn to_ocpp(i: &StoreInfo) -> OcppInfo {
    OcppInfo {
        expiry_date: i
            .expiry
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .map(Timestamp),
        parent_id_tag: i.parent_id_tag.as_deref().map(CiString20::truncated),
        status: ocpp_status(i.status),
    }
}

pub fn known(i: &StoreInfo) -> Known {
    Known {
        status: ocpp_status(i.status),
        expiry: i
            .expiry
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
    }
}

pub fn known_ocpp(i: &OcppInfo) -> Known {
    Known {
        status: i.status,
        expiry: i.expiry_date.map(|t| t.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let i = OcppInfo {
            expiry_date: Some(Timestamp(
                Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
            )),
            parent_id_tag: Some(CiString20::new("GROUP").unwrap()),
            status: AuthorizationStatus::Blocked,
        };
        assert_eq!(to_ocpp(&to_store(&i)), i);
        assert_eq!(known(&to_store(&i)), known_ocpp(&i));
    }
}
