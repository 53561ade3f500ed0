//! Secrets stay out of the config and out of the logs: a password in a URL's user part is
//! refused by validation and masked wherever a URL is shown.

/// The user part of `scheme://user:password@host/...`, if the URL has one.
fn userinfo(url: &str) -> Option<(usize, &str)> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let at = authority.rfind('@')?;
    Some((start, &authority[..at]))
}

/// Whether `url` carries a password (`user:password@`).
pub fn url_has_password(url: &str) -> bool {
    userinfo(url).is_some_and(|(_, user)| user.contains(':'))
}

/// `url` with the password of its user part (if any) replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match userinfo(url) {
        Some((start, user)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{}{name}:***{}", &url[..start], &url[start + user.len()..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_found_and_masked() {
        for (url, has, shown) in [
            (
                "wss://csms.example.com/ocpp",
                false,
                "wss://csms.example.com/ocpp",
            ),
            (
                "wss://site:pw@csms.example.com/ocpp",
                true,
                "wss://site:***@csms.example.com/ocpp",
            ),
            ("ws://a:b:c@h:9000/x@y", true, "ws://a:***@h:9000/x@y"),
            ("ws://user@h/ocpp", false, "ws://user@h/ocpp"),
            ("ws://h/ocpp?u=a:b@c", false, "ws://h/ocpp?u=a:b@c"),
            ("ws://:p@w@h/", true, "ws://:***@h/"),
            ("not a url", false, "not a url"),
        ] {
            assert_eq!(url_has_password(url), has, "{url}");
            assert_eq!(redact_url(url), shown, "{url}");
            if has {
                assert!(!redact_url(url).contains("pw"), "{url}");
            }
        }
    }
}
