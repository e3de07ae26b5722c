//! The API's writes, each one `WriteOp`: the same statements run on
//! PostgreSQL and on SQLite.

use crate::db::{Param, QueryError, WriteOp, WriteTx};
use crate::error::ApiError;
use crate::model::{Customer, Message, Ticket};

pub struct InsertCustomer {
    pub name: String,
    pub email: String,
    pub at: String,
}

impl WriteOp for InsertCustomer {
    type Output = Customer;
    type Error = ApiError;

    async fn run<T: WriteTx>(&self, tx: &mut T) -> Result<Customer, ApiError> {
        let inserted = tx
            .fetch_int(
                "INSERT INTO customers (name, email, created_at) VALUES ($1, $2, $3) RETURNING id",
                &[
                    Param::Text(&self.name),
                    Param::Text(&self.email),
                    Param::Text(&self.at),
                ],
            )
            .await;
        let id = match inserted {
            Err(e) if e.is_unique_violation() => {
                return Err(ApiError::Conflict(format!(
                    "a customer with email {} exists",
                    self.email
                )));
            }
            other => other?.ok_or(QueryError::NoRow)?,
        };
        Ok(Customer {
            id,
            name: self.name.clone(),
            email: self.email.clone(),
            created_at: self.at.clone(),
        })
    }
}

pub struct InsertTicket {
    pub subject: String,
    pub customer_id: i64,
    pub channel: String,
    /// Sorted, without repeats.
    pub tags: Vec<String>,
    /// The customer's first message, if the ticket came with one.
    pub body: Option<String>,
    pub at: String,
}

impl WriteOp for InsertTicket {
    type Output = Ticket;
    type Error = ApiError;

    async fn run<T: WriteTx>(&self, tx: &mut T) -> Result<Ticket, ApiError> {
        let customer = Param::Int(self.customer_id);
        let known = tx
            .fetch_int("SELECT id FROM customers WHERE id = $1", &[customer])
            .await?;
        if known.is_none() {
            return Err(ApiError::invalid(
                "customer_id",
                format!("no customer {}", self.customer_id),
            ));
        }
        let at = Param::Text(&self.at);
        let id = tx
            .fetch_int(
                "INSERT INTO tickets (subject, customer_id, channel, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'open', $4, $4) RETURNING id",
                &[Param::Text(&self.subject), customer, Param::Text(&self.channel), at],
            )
            .await?
            .ok_or(QueryError::NoRow)?;
        for tag in &self.tags {
            tx.execute(
                "INSERT INTO ticket_tags (ticket_id, tag) VALUES ($1, $2)",
                &[Param::Int(id), Param::Text(tag)],
            )
            .await?;
        }
        if let Some(body) = &self.body {
            let author = format!("customer:{}", self.customer_id);
            tx.execute(
                "INSERT INTO messages (ticket_id, author, body, created_at) VALUES ($1, $2, $3, $4)",
                &[Param::Int(id), Param::Text(&author), Param::Text(body), at],
            )
            .await?;
        }
        Ok(Ticket {
            id,
            subject: self.subject.clone(),
            customer_id: self.customer_id,
            channel: self.channel.clone(),
            status: "open".into(),
            assignee: None,
            tags: self.tags.clone(),
            created_at: self.at.clone(),
            updated_at: self.at.clone(),
            messages: None,
        })
    }
}

pub struct InsertMessage {
    pub ticket_id: i64,
    pub author: String,
    pub body: String,
    pub at: String,
}

impl WriteOp for InsertMessage {
    type Output = Message;
    type Error = ApiError;

    async fn run<T: WriteTx>(&self, tx: &mut T) -> Result<Message, ApiError> {
        let ticket = Param::Int(self.ticket_id);
        let at = Param::Text(&self.at);
        let touched = tx
            .execute(
                "UPDATE tickets SET updated_at = $1 WHERE id = $2",
                &[at, ticket],
            )
            .await?;
        if touched == 0 {
            return Err(ApiError::NotFound("ticket"));
        }
        let id = tx
            .fetch_int(
                "INSERT INTO messages (ticket_id, author, body, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                &[ticket, Param::Text(&self.author), Param::Text(&self.body), at],
            )
            .await?
            .ok_or(QueryError::NoRow)?;
        Ok(Message {
            id,
            ticket_id: self.ticket_id,
            author: self.author.clone(),
            body: self.body.clone(),
            created_at: self.at.clone(),
        })
    }
}

pub struct Assign {
    pub ticket_id: i64,
    pub assignee: String,
    pub at: String,
}

impl WriteOp for Assign {
    type Output = ();
    type Error = ApiError;

    async fn run<T: WriteTx>(&self, tx: &mut T) -> Result<(), ApiError> {
        let changed = tx
            .execute(
                "UPDATE tickets SET assignee = $1, updated_at = $2 WHERE id = $3",
                &[
                    Param::Text(&self.assignee),
                    Param::Text(&self.at),
                    Param::Int(self.ticket_id),
                ],
            )
            .await?;
        if changed == 0 {
            return Err(ApiError::NotFound("ticket"));
        }
        Ok(())
    }
}

/// Close (`open` → `closed`) or reopen. The status is checked by the
/// UPDATE itself, so of two racing closes exactly one wins.
pub struct SetStatus {
    pub ticket_id: i64,
    pub from: &'static str,
    pub to: &'static str,
    pub at: String,
}

impl WriteOp for SetStatus {
    type Output = ();
    type Error = ApiError;

    async fn run<T: WriteTx>(&self, tx: &mut T) -> Result<(), ApiError> {
        let ticket = Param::Int(self.ticket_id);
        let changed = tx
            .execute(
                "UPDATE tickets SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
                &[
                    Param::Text(self.to),
                    Param::Text(&self.at),
                    ticket,
                    Param::Text(self.from),
                ],
            )
            .await?;
        if changed == 1 {
            return Ok(());
        }
        match tx
            .fetch_text("SELECT status FROM tickets WHERE id = $1", &[ticket])
            .await?
        {
            None => Err(ApiError::NotFound("ticket")),
            Some(status) => Err(ApiError::Conflict(format!(
                "ticket {} is {status}, not {}",
                self.ticket_id, self.from
            ))),
        }
    }
}
