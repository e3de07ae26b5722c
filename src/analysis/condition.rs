//! Success and failure conditions: CEL expressions over `result`.

use std::sync::Arc;

use cel::{Context, Program, Value};

use super::value::MetricValue;
use crate::diagnostic::nearest;

/// A condition compiled when its template is validated.
#[derive(Debug, Clone)]
pub struct Condition {
    source: String,
    program: Arc<Program>,
}

// Runs are measured on tokio tasks; conditions travel with them.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Condition>();
};

impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// Why a condition does not compile, or did not decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// CEL syntax, each error with its line and column.
    #[error("{0}")]
    Syntax(String),
    #[error("unknown variable `{name}`: conditions see only `result`{hint}")]
    UnknownVariable { name: String, hint: String },
    /// A function CEL does not have, e.g. Argo Rollouts' expr helpers
    /// `len` or `isNaN`: found when the template is checked, not at the
    /// first measurement.
    #[error(
        "unknown function `{name}`: conditions are CEL expressions, which have no such function"
    )]
    UnknownFunction { name: String },
    #[error("`{expression}` gave {value}, not true or false")]
    NotBoolean { expression: String, value: String },
    #[error("`{expression}`: {reason}")]
    Execution { expression: String, reason: String },
}

impl Condition {
    /// Compiles `source`; the error says where and what, and suggests
    /// `result` for a misspelt variable.
    pub fn compile(source: &str) -> Result<Self, ConditionError> {
        let program = Program::compile(source).map_err(|errors| {
            ConditionError::Syntax(
                errors
                    .errors
                    .iter()
                    .map(|e| format!("line {}, column {}: {}", e.pos.0, e.pos.1 + 1, e.msg))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        // Comprehension variables (`x` in `result.all(x, x < 1)`) are
        // references too, so unknown names are found by trying the program
        // on both shapes `result` takes.
        let undeclared = [MetricValue::Scalar(0.0), MetricValue::Vector(vec![0.0])]
            .iter()
            .map(|sample| {
                let mut context = Context::default();
                context.add_variable_from_value("result", sample.to_cel());
                match program.execute(&context) {
                    Err(cel::ExecutionError::UndeclaredReference(name)) => Some(name.to_string()),
                    _ => None,
                }
            })
            .collect::<Vec<_>>();
        if let [Some(name), Some(_)] = undeclared.as_slice() {
            let hint = nearest(name, ["result"])
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_default();
            return Err(ConditionError::UnknownVariable {
                name: name.clone(),
                hint,
            });
        }
        if let Some(name) = unknown_function(&program) {
            return Err(ConditionError::UnknownFunction { name });
        }
        Ok(Self {
            source: source.to_owned(),
            program: Arc::new(program),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates against a measured value; a non-boolean result is an error.
    pub fn evaluate(&self, result: &MetricValue) -> Result<bool, ConditionError> {
        let mut context = Context::default();
        context.add_variable_from_value("result", result.to_cel());
        match self.program.execute(&context) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(ConditionError::NotBoolean {
                expression: self.source.clone(),
                value: format!("{other:?}"),
            }),
            Err(e) => Err(ConditionError::Execution {
                expression: self.source.clone(),
                reason: e.to_string(),
            }),
        }
    }
}

/// The first function `program` calls that CEL does not declare. The
/// interpreter only finds out when a call runs, which `||` and `&&` may
/// skip; so each named function is called alone, as a global and as a
/// member, and is unknown when neither call finds it (a wrong argument
/// type is a different error).
fn unknown_function(program: &Program) -> Option<String> {
    let mut context = Context::default();
    context.add_variable_from_value("result", MetricValue::Scalar(0.0).to_cel());
    let undeclared = |call: String, name: &str| match Program::compile(&call) {
        Ok(probe) => matches!(
            probe.execute(&context),
            Err(cel::ExecutionError::UndeclaredReference(n)) if n.as_str() == name
        ),
        Err(_) => false,
    };
    let references = program.references();
    let mut names = references.functions();
    // The references are a set: sorted, the same name is reported each time.
    names.sort_unstable();
    names
        .into_iter()
        // Operators (`_<_`) and macros' internals (`@not_strictly_false`).
        .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .filter(|name| name.starts_with(|c: char| c.is_ascii_alphabetic()))
        .find(|name| {
            undeclared(format!("{name}(result)"), name)
                && undeclared(format!("result.{name}()"), name)
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_and_lists() {
        let c = Condition::compile("result < 0.05").unwrap();
        assert_eq!(c.evaluate(&MetricValue::Scalar(0.01)), Ok(true));
        assert_eq!(c.evaluate(&MetricValue::Scalar(0.5)), Ok(false));
        let c = Condition::compile("result[0] <= 1").unwrap();
        assert_eq!(c.evaluate(&MetricValue::Vector(vec![0.5, 3.0])), Ok(true));
        let c = Condition::compile("result.all(x, x < 2.0)").unwrap();
        assert_eq!(c.evaluate(&MetricValue::Vector(vec![0.5, 3.0])), Ok(false));
    }

    #[test]
    fn mixed_int_and_float_compare() {
        let c = Condition::compile("result >= 1").unwrap();
        assert_eq!(c.evaluate(&MetricValue::Scalar(1.0)), Ok(true));
    }

    #[test]
    fn bad_expressions_say_where() {
        let e = Condition::compile("result <").unwrap_err().to_string();
        assert!(e.starts_with("line 1, column"), "{e}");
        let e = Condition::compile("resutl < 1").unwrap_err().to_string();
        assert!(
            e.contains("unknown variable `resutl`") && e.contains("did you mean `result`?"),
            "{e}"
        );
        let c = Condition::compile("string(result)").unwrap();
        assert!(
            c.evaluate(&MetricValue::Scalar(1.0))
                .unwrap_err()
                .to_string()
                .contains("not true or false")
        );
    }

    #[test]
    fn functions_cel_lacks_are_named_when_compiled() {
        let e = Condition::compile("len(result) == 0 || isNaN(result[0]) || result[0] >= 0.95")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "unknown function `isNaN`: conditions are CEL expressions, which have no such function"
        );
        for known in [
            "size(result) > 0 && result[0] < 1.0",
            "string(result).startsWith('0') || result.exists(x, x > 1.0)",
            "int(result) == 0 && double(1) > 0.0 && type(result) == double",
        ] {
            assert!(Condition::compile(known).is_ok(), "{known}");
        }
    }
}
