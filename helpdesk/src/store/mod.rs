//! Queries: the reads here, the writes in `writes`. One SQL text serves
//! SQLite and PostgreSQL (`$n` parameters, `RETURNING`) wherever the
//! dialects agree.

mod writes;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{Backend, Db};
use crate::error::ApiError;
use crate::model::{Customer, Message, NewCustomer, NewMessage, NewTicket, Ticket};

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

fn customer(row: &AnyRow) -> Result<Customer, sqlx::Error> {
    Ok(Customer {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A JSON aggregate column, parsed; `None` where it is NULL or the query
/// did not select it.
fn json_aggregate<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<Option<T>, sqlx::Error> {
    match row.try_get::<Option<&str>, _>(column) {
        Ok(Some(text)) => serde_json::from_str(text)
            .map(Some)
            .map_err(|e| sqlx::Error::Decode(Box::new(e))),
        _ => Ok(None),
    }
}

/// A ticket row; `tags` and `messages` come as JSON aggregates when selected.
fn ticket(row: &AnyRow) -> Result<Ticket, sqlx::Error> {
    let tags = json_aggregate(row, "tags")?.unwrap_or_default();
    let messages = json_aggregate(row, "messages")?;
    Ok(Ticket {
        id: row.try_get("id")?,
        subject: row.try_get("subject")?,
        customer_id: row.try_get("customer_id")?,
        channel: row.try_get("channel")?,
        status: row.try_get("status")?,
        assignee: row.try_get("assignee")?,
        tags,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        messages,
    })
}

macro_rules! ticket_columns {
    () => {
        "id, subject, customer_id, channel, status, assignee, created_at, updated_at"
    };
}

/// A ticket's tags (and messages) as JSON arrays, so reading a ticket is
/// one query: the aggregate functions are the only dialect difference.
macro_rules! sqlite_tags {
    () => {
        "(SELECT json_group_array(tag) FROM (SELECT tag FROM ticket_tags WHERE ticket_id = t.id ORDER BY tag)) AS tags"
    };
}
macro_rules! postgres_tags {
    () => {
        "(SELECT COALESCE(json_agg(tag ORDER BY tag), '[]')::text FROM ticket_tags WHERE ticket_id = t.id) AS tags"
    };
}

const GET_TICKET_SQLITE: &str = concat!(
    "SELECT ",
    ticket_columns!(),
    ", ",
    sqlite_tags!(),
    ", (SELECT json_group_array(json_object('id', id, 'ticket_id', ticket_id, 'author', author, 'body', body, 'created_at', created_at)) ",
    "FROM (SELECT * FROM messages WHERE ticket_id = t.id ORDER BY id)) AS messages FROM tickets t WHERE t.id = $1"
);
const GET_TICKET_POSTGRES: &str = concat!(
    "SELECT ",
    ticket_columns!(),
    ", ",
    postgres_tags!(),
    ", (SELECT COALESCE(json_agg(json_build_object('id', id, 'ticket_id', ticket_id, 'author', author, 'body', body, 'created_at', created_at) ORDER BY id), '[]')::text ",
    "FROM messages WHERE ticket_id = t.id) AS messages FROM tickets t WHERE t.id = $1"
);

pub async fn create_customer(db: &Db, new: NewCustomer) -> Result<Customer, ApiError> {
    db.write(writes::InsertCustomer {
        name: new.name.trim().to_owned(),
        email: new.email.trim().to_lowercase(),
        at: now(),
    })
    .await
}

pub async fn get_customer(db: &Db, id: i64) -> Result<Customer, ApiError> {
    let row = db
        .fetch_optional(
            sqlx::query("SELECT id, name, email, created_at FROM customers WHERE id = $1").bind(id),
        )
        .await?
        .ok_or(ApiError::NotFound("customer"))?;
    Ok(customer(&row)?)
}

pub async fn create_ticket(db: &Db, new: NewTicket) -> Result<Ticket, ApiError> {
    let mut tags = new.tags;
    tags.sort();
    tags.dedup();
    db.write(writes::InsertTicket {
        subject: new.subject.trim().to_owned(),
        customer_id: new.customer_id,
        channel: new.channel,
        tags,
        body: new.body,
        at: now(),
    })
    .await
}

pub async fn get_ticket(db: &Db, id: i64) -> Result<Ticket, ApiError> {
    let sql = match db.backend {
        Backend::Sqlite => GET_TICKET_SQLITE,
        Backend::Postgres => GET_TICKET_POSTGRES,
    };
    let row = db
        .fetch_optional(sqlx::query(sql).bind(id))
        .await?
        .ok_or(ApiError::NotFound("ticket"))?;
    Ok(ticket(&row)?)
}

#[derive(Debug, Default)]
pub struct Filter {
    pub status: Option<String>,
    pub channel: Option<String>,
    pub customer_id: Option<i64>,
    pub tag: Option<String>,
    pub after: i64,
    pub limit: i64,
}

/// Tickets in id order after the cursor; returns the page and whether more follow.
pub async fn list_tickets(db: &Db, filter: &Filter) -> Result<(Vec<Ticket>, bool), ApiError> {
    let tags = match db.backend {
        Backend::Sqlite => sqlite_tags!(),
        Backend::Postgres => postgres_tags!(),
    };
    let mut sql = format!(
        concat!(
            "SELECT ",
            ticket_columns!(),
            ", {} FROM tickets t WHERE id > $1"
        ),
        tags
    );
    let mut n = 1;
    let mut clause = |column: &str| {
        n += 1;
        format!(" AND {column} = ${n}")
    };
    if filter.status.is_some() {
        sql.push_str(&clause("status"));
    }
    if filter.channel.is_some() {
        sql.push_str(&clause("channel"));
    }
    if filter.customer_id.is_some() {
        sql.push_str(&clause("customer_id"));
    }
    if filter.tag.is_some() {
        n += 1;
        sql.push_str(&format!(
            " AND id IN (SELECT ticket_id FROM ticket_tags WHERE tag = ${n})"
        ));
    }
    sql.push_str(&format!(" ORDER BY id LIMIT {}", filter.limit + 1));
    // Only fixed fragments and parameter numbers were appended: values are bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(filter.after);
    for value in [&filter.status, &filter.channel].into_iter().flatten() {
        query = query.bind(value.clone());
    }
    if let Some(customer) = filter.customer_id {
        query = query.bind(customer);
    }
    if let Some(tag) = &filter.tag {
        query = query.bind(tag.clone());
    }
    let rows = db.fetch_all(query).await?;
    let more = rows.len() as i64 > filter.limit;
    let page = rows
        .iter()
        .take(usize::try_from(filter.limit).unwrap_or(0))
        .map(ticket)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((page, more))
}

pub async fn add_message(db: &Db, ticket_id: i64, new: NewMessage) -> Result<Message, ApiError> {
    db.write(writes::InsertMessage {
        ticket_id,
        author: new.author.trim().to_owned(),
        body: new.body,
        at: now(),
    })
    .await
}

pub async fn assign(db: &Db, ticket_id: i64, assignee: &str) -> Result<Ticket, ApiError> {
    db.write(writes::Assign {
        ticket_id,
        assignee: assignee.trim().to_owned(),
        at: now(),
    })
    .await?;
    get_ticket(db, ticket_id).await
}

/// Moves a ticket from status `from` to `to`; a conflict if it is not `from`.
pub async fn set_status(
    db: &Db,
    ticket_id: i64,
    from: &'static str,
    to: &'static str,
) -> Result<Ticket, ApiError> {
    db.write(writes::SetStatus {
        ticket_id,
        from,
        to,
        at: now(),
    })
    .await?;
    get_ticket(db, ticket_id).await
}

pub async fn tags(db: &Db) -> Result<Vec<(String, i64)>, ApiError> {
    let rows = db
        .fetch_all(sqlx::query(
            "SELECT tag, COUNT(*) AS n FROM ticket_tags GROUP BY tag ORDER BY tag",
        ))
        .await?;
    Ok(rows
        .iter()
        .map(|r| Ok((r.try_get("tag")?, r.try_get("n")?)))
        .collect::<Result<_, sqlx::Error>>()?)
}
