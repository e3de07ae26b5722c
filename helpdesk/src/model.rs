//! Tickets, customers and messages, and what makes them valid.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

pub const CHANNELS: [&str; 4] = ["email", "chat", "sms", "voice"];
pub const STATUSES: [&str; 2] = ["open", "closed"];
const MAX_SUBJECT: usize = 200;
const MAX_BODY: usize = 10_000;
const MAX_TAGS: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    pub id: i64,
    pub subject: String,
    pub customer_id: i64,
    pub channel: String,
    pub status: String,
    pub assignee: Option<String>,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Message>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    pub id: i64,
    pub ticket_id: i64,
    pub author: String,
    pub body: String,
    pub created_at: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    pub subject: String,
    pub customer_id: i64,
    pub channel: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    pub author: String,
    pub body: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    pub assignee: String,
}

fn required(field: &'static str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

impl NewCustomer {
    pub fn validate(&self) -> Result<(), ApiError> {
        required("name", &self.name, MAX_SUBJECT)?;
        required("email", &self.email, MAX_SUBJECT)?;
        let valid = self.email.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty() && domain.contains('.') && !domain.starts_with('.')
        });
        if !valid {
            return Err(ApiError::invalid(
                "email",
                "must be an address such as ada@example.com",
            ));
        }
        Ok(())
    }
}

impl NewTicket {
    pub fn validate(&self) -> Result<(), ApiError> {
        required("subject", &self.subject, MAX_SUBJECT)?;
        check_channel(&self.channel)?;
        if self.customer_id <= 0 {
            return Err(ApiError::invalid("customer_id", "must be a customer's id"));
        }
        if let Some(body) = &self.body {
            required("body", body, MAX_BODY)?;
        }
        if self.tags.len() > MAX_TAGS {
            return Err(ApiError::invalid(
                "tags",
                format!("at most {MAX_TAGS} tags"),
            ));
        }
        for tag in &self.tags {
            let ok = !tag.is_empty()
                && tag.len() <= 40
                && tag
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                return Err(ApiError::invalid(
                    "tags",
                    format!("`{tag}` must be 1-40 lowercase letters, digits or '-'"),
                ));
            }
        }
        Ok(())
    }
}

impl NewMessage {
    pub fn validate(&self) -> Result<(), ApiError> {
        required("author", &self.author, MAX_SUBJECT)?;
        required("body", &self.body, MAX_BODY)
    }
}

impl Assignment {
    pub fn validate(&self) -> Result<(), ApiError> {
        required("assignee", &self.assignee, MAX_SUBJECT)
    }
}

pub fn check_channel(channel: &str) -> Result<(), ApiError> {
    if CHANNELS.contains(&channel) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "channel",
            format!("must be one of {}", CHANNELS.join(", ")),
        ))
    }
}

pub fn check_status(status: &str) -> Result<(), ApiError> {
    if STATUSES.contains(&status) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ))
    }
}
