//! Queries. One SQL text serves SQLite and PostgreSQL (`$n` parameters,
//! `RETURNING`), so both backends run the same code.

use sqlx::any::AnyRow;
use sqlx::{Row, Transaction};

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

fn message(row: &AnyRow) -> Result<Message, sqlx::Error> {
    Ok(Message {
        id: row.try_get("id")?,
        ticket_id: row.try_get("ticket_id")?,
        author: row.try_get("author")?,
        body: row.try_get("body")?,
        created_at: row.try_get("created_at")?,
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

pub async fn create_customer(db: &Db, new: &NewCustomer) -> Result<Customer, ApiError> {
    let row = sqlx::query("INSERT INTO customers (name, email, created_at) VALUES ($1, $2, $3) RETURNING id, name, email, created_at")
        .bind(new.name.trim())
        .bind(new.email.trim().to_lowercase())
        .bind(now())
        .fetch_one(&db.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.message().to_lowercase().contains("unique") => {
                ApiError::Conflict(format!("a customer with email {} exists", new.email.trim()))
            }
            _ => ApiError::Database(e),
        })?;
    Ok(customer(&row)?)
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

pub async fn create_ticket(db: &Db, new: &NewTicket) -> Result<Ticket, ApiError> {
    let mut tx = db.begin_write().await?;
    let exists = sqlx::query("SELECT id FROM customers WHERE id = $1")
        .bind(new.customer_id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Err(ApiError::invalid(
            "customer_id",
            format!("no customer {}", new.customer_id),
        ));
    }
    let at = now();
    let row = sqlx::query(concat!(
        "INSERT INTO tickets (subject, customer_id, channel, status, created_at, updated_at) VALUES ($1, $2, $3, 'open', $4, $4) RETURNING ",
        ticket_columns!()
    ))
    .bind(new.subject.trim())
    .bind(new.customer_id)
    .bind(&new.channel)
    .bind(&at)
    .fetch_one(&mut *tx)
    .await?;
    let mut created = ticket(&row)?;
    let mut tags = new.tags.clone();
    tags.sort();
    tags.dedup();
    for tag in &tags {
        sqlx::query("INSERT INTO ticket_tags (ticket_id, tag) VALUES ($1, $2)")
            .bind(created.id)
            .bind(tag)
            .execute(&mut *tx)
            .await?;
    }
    created.tags = tags;
    if let Some(body) = &new.body {
        let author = format!("customer:{}", new.customer_id);
        insert_message(&mut tx, created.id, &author, body).await?;
    }
    tx.commit().await?;
    Ok(created)
}

async fn insert_message(
    tx: &mut Transaction<'_, sqlx::Any>,
    ticket_id: i64,
    author: &str,
    body: &str,
) -> Result<Message, ApiError> {
    let row = sqlx::query("INSERT INTO messages (ticket_id, author, body, created_at) VALUES ($1, $2, $3, $4) RETURNING id, ticket_id, author, body, created_at")
        .bind(ticket_id)
        .bind(author.trim())
        .bind(body)
        .bind(now())
        .fetch_one(&mut **tx)
        .await?;
    Ok(message(&row)?)
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

pub async fn add_message(db: &Db, id: i64, new: &NewMessage) -> Result<Message, ApiError> {
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2")
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::NotFound("ticket"));
    }
    let created = insert_message(&mut tx, id, &new.author, &new.body).await?;
    tx.commit().await?;
    Ok(created)
}

/// The ticket fields the API changes.
#[derive(Debug, Clone, Copy)]
pub enum Column {
    Assignee,
    Status,
}

/// Sets a field of a ticket; `expect_status` guards close/reopen.
pub async fn update_ticket(
    db: &Db,
    id: i64,
    column: Column,
    value: &str,
    expect_status: Option<&str>,
) -> Result<Ticket, ApiError> {
    let current = get_ticket(db, id).await?;
    if let Some(expected) = expect_status
        && current.status != expected
    {
        return Err(ApiError::Conflict(format!(
            "ticket {id} is {}, not {expected}",
            current.status
        )));
    }
    let sql = match column {
        Column::Assignee => "UPDATE tickets SET assignee = $1, updated_at = $2 WHERE id = $3",
        Column::Status => "UPDATE tickets SET status = $1, updated_at = $2 WHERE id = $3",
    };
    sqlx::query(sql)
        .bind(value)
        .bind(now())
        .bind(id)
        .execute(&db.pool)
        .await?;
    get_ticket(db, id).await
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
