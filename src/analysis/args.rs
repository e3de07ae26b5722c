//! `{{args.name}}` in queries, URLs, headers and bodies. Values from
//! Secrets are sent but never shown: the recorded query masks them.

use crate::diagnostic::nearest;

/// An argument's value, resolved by the platform (literal, Secret, field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgValue {
    pub name: String,
    pub value: String,
    pub secret: bool,
}

impl ArgValue {
    pub fn literal(name: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            value: value.to_owned(),
            secret: false,
        }
    }
}

/// A string with arguments substituted: `sent` goes to the provider,
/// `shown` (secrets as `*****`) goes into logs and status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolved {
    pub sent: String,
    pub shown: String,
}

pub const MASK: &str = "*****";

pub fn substitute(text: &str, args: &[ArgValue]) -> Result<Resolved, String> {
    let mut out = Resolved::default();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let inner = rest[start + 2..start + len].trim();
        out.sent.push_str(&rest[..start]);
        out.shown.push_str(&rest[..start]);
        let Some(name) = inner.strip_prefix("args.") else {
            // Not ours (e.g. a Go template in a query): keep it as written.
            out.sent.push_str(&rest[start..start + len + 2]);
            out.shown.push_str(&rest[start..start + len + 2]);
            rest = &rest[start + len + 2..];
            continue;
        };
        let arg = args.iter().find(|a| a.name == name).ok_or_else(|| {
            let hint = nearest(name, args.iter().map(|a| a.name.as_str()))
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_default();
            format!("unknown argument `{name}` in `{text}`{hint}")
        })?;
        out.sent.push_str(&arg.value);
        out.shown
            .push_str(if arg.secret { MASK } else { &arg.value });
        rest = &rest[start + len + 2..];
    }
    out.sent.push_str(rest);
    out.shown.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_and_masks() {
        let args = [
            ArgValue::literal("service", "helpdesk-canary"),
            ArgValue {
                name: "token".into(),
                value: "s3cr3t".into(),
                secret: true,
            },
        ];
        let r = substitute("svc={{args.service}} auth=Bearer {{ args.token }}", &args).unwrap();
        assert_eq!(r.sent, "svc=helpdesk-canary auth=Bearer s3cr3t");
        assert_eq!(r.shown, "svc=helpdesk-canary auth=Bearer *****");
        let e = substitute("{{args.servce}}", &args).unwrap_err();
        assert!(e.contains("did you mean `service`?"), "{e}");
        assert_eq!(
            substitute("{{ other }}", &args).unwrap().sent,
            "{{ other }}"
        );
    }
}
