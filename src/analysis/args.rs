//! `{{args.name}}` in queries, URLs, headers and bodies. Values from
//! Secrets are sent but never shown: the recorded query masks them.

use crate::crd::problem::SpecProblem;
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

/// Where `valueFrom` arguments come from: Secrets and the rollout's
/// fields, which only the platform can read.
pub trait ArgSource {
    fn secret(&self, name: &str, key: &str) -> Result<String, String>;
    fn field(&self, path: &str) -> Result<String, String>;
}

/// The values of a run's arguments: literals as written, `valueFrom`
/// through `source` (Secret values marked secret). Every problem is named.
pub fn resolve(
    args: &[crate::crd::analysis::AnalysisArg],
    source: &dyn ArgSource,
) -> Result<Vec<ArgValue>, Vec<SpecProblem>> {
    let mut values = Vec::new();
    let mut problems = Vec::new();
    for arg in args {
        match (&arg.value, &arg.value_from) {
            (Some(value), None) => values.push(ArgValue::literal(&arg.name, value)),
            (None, Some(from)) => match (&from.secret_key_ref, &from.field_ref) {
                (Some(secret), None) => match source.secret(&secret.name, &secret.key) {
                    Ok(value) => values.push(ArgValue {
                        name: arg.name.clone(),
                        value,
                        secret: true,
                    }),
                    Err(e) => problems.push(SpecProblem::new(
                        format!("args.{}", arg.name),
                        format!("Secret {} key {}: {e}", secret.name, secret.key),
                    )),
                },
                (None, Some(field)) => match source.field(&field.field_path) {
                    Ok(value) => values.push(ArgValue::literal(&arg.name, &value)),
                    Err(e) => problems.push(SpecProblem::new(
                        format!("args.{}", arg.name),
                        format!("field {}: {e}", field.field_path),
                    )),
                },
                _ => problems.push(SpecProblem::new(
                    format!("args.{}", arg.name),
                    "valueFrom sets exactly one of secretKeyRef or fieldRef",
                )),
            },
            (Some(_), Some(_)) => problems.push(SpecProblem::new(
                format!("args.{}", arg.name),
                "set value or valueFrom, not both",
            )),
            // Left for the template's default.
            (None, None) => {}
        }
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(problems)
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

/// A `{{args.name}}` with no such argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown argument `{name}` in `{text}`{hint}")]
pub struct UnknownArgument {
    pub name: String,
    pub text: String,
    /// `; did you mean ...?` when a declared name is close.
    pub hint: String,
}

pub fn substitute(text: &str, args: &[ArgValue]) -> Result<Resolved, UnknownArgument> {
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
            UnknownArgument {
                name: name.to_owned(),
                text: text.to_owned(),
                hint,
            }
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
    use crate::crd::analysis::{AnalysisArg, ArgValueFrom, FieldRef, SecretKeyRef};

    struct Source;
    impl ArgSource for Source {
        fn secret(&self, name: &str, key: &str) -> Result<String, String> {
            match (name, key) {
                ("prometheus-auth", "token") => Ok("s3cr3t".into()),
                _ => Err("not found".into()),
            }
        }
        fn field(&self, path: &str) -> Result<String, String> {
            match path {
                "metadata.name" => Ok("helpdesk".into()),
                _ => Err("no such field".into()),
            }
        }
    }

    #[test]
    fn resolves_literals_secrets_and_fields() {
        let from = |secret: Option<(&str, &str)>, field: Option<&str>| ArgValueFrom {
            secret_key_ref: secret.map(|(n, k)| SecretKeyRef {
                name: n.into(),
                key: k.into(),
            }),
            field_ref: field.map(|f| FieldRef {
                field_path: f.into(),
            }),
        };
        let args = vec![
            AnalysisArg {
                name: "service".into(),
                value: Some("canary".into()),
                value_from: None,
            },
            AnalysisArg {
                name: "token".into(),
                value: None,
                value_from: Some(from(Some(("prometheus-auth", "token")), None)),
            },
            AnalysisArg {
                name: "rollout".into(),
                value: None,
                value_from: Some(from(None, Some("metadata.name"))),
            },
        ];
        let values = resolve(&args, &Source).unwrap();
        assert_eq!(
            values[1],
            ArgValue {
                name: "token".into(),
                value: "s3cr3t".into(),
                secret: true
            }
        );
        assert_eq!(values[2].value, "helpdesk");
        let bad = vec![AnalysisArg {
            name: "x".into(),
            value: None,
            value_from: Some(from(Some(("nope", "k")), None)),
        }];
        assert_eq!(
            resolve(&bad, &Source)
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec!["args.x: Secret nope key k: not found"]
        );
    }

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
        let e = substitute("{{args.servce}}", &args)
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean `service`?"), "{e}");
        assert_eq!(
            substitute("{{ other }}", &args).unwrap().sent,
            "{{ other }}"
        );
    }
}
