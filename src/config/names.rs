//! The names a config gives (services, environments, clusters, notification
//! targets) and the values keys it names, checked as Kubernetes and Helm
//! will use them.

/// A name or values key that cannot be used as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "`{0}` is not a valid name: use 1 to 63 lowercase letters, digits and '-', not starting or ending with '-'"
    )]
    DnsLabel(String),
    #[error("`{0}` is not a dotted values key such as `image.tag`")]
    DottedKey(String),
}

/// Names become Kubernetes names and file names, so they follow RFC 1123 labels.
pub fn check_dns_label(name: &str) -> Result<(), NameError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(NameError::DnsLabel(name.to_owned()))
    }
}

pub(super) fn check_dotted_key(key: &str) -> Result<(), NameError> {
    let valid = !key.is_empty()
        && key.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if valid {
        Ok(())
    } else {
        Err(NameError::DottedKey(key.to_owned()))
    }
}
