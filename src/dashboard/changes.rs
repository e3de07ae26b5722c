//! The commits between the revision a cluster had and the one it has: a
//! link to the source repository's compare page when the config names one
//! (`compareUrl`), else a page of our own listing them from the source
//! repository.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::html::{esc, segment};
use super::page::Page;
use super::time::time_tag_at;
use crate::gitops::ledger::short;
use crate::gitops::source::Commit;

/// The most commits the page lists; the total is always said.
pub const LISTED: usize = 200;

/// Where "what changed" points, and whether that is another site.
pub fn changes_href(
    service: &str,
    compare_url: Option<&str>,
    from: &str,
    to: &str,
) -> (String, bool) {
    match compare_url {
        Some(url) => (url.replace("{from}", from).replace("{to}", to), true),
        None => (
            format!(
                "/services/{}/changes?from={}&to={}",
                segment(service),
                segment(from),
                segment(to)
            ),
            false,
        ),
    }
}

/// `<a href=...>1a2b3c4 → 3f2a9c1</a>`
pub fn changes_link(service: &str, compare_url: Option<&str>, from: &str, to: &str) -> String {
    let (href, external) = changes_href(service, compare_url, from, to);
    format!(
        r#"<a href="{}"{}>{} → {}<span class="visually-hidden">: the commits between</span></a>"#,
        esc(&href),
        if external { r#" rel="noreferrer""# } else { "" },
        esc(short(from)),
        esc(short(to))
    )
}

/// What the changes page shows.
pub struct Changes {
    pub service: String,
    pub from: String,
    pub to: String,
    /// A step back: the commits listed are the ones it takes away.
    pub rollback: bool,
    pub commits: Vec<Commit>,
    pub total: usize,
    pub compare_url: Option<String>,
}

pub fn render(changes: &Changes, now: Timestamp) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{} from <code>{}</code> to <code>{}</code></h1>",
        esc(&changes.service),
        esc(short(&changes.from)),
        esc(short(&changes.to))
    );
    let counted = match changes.total {
        1 => "1 commit".to_owned(),
        n => format!("{n} commits"),
    };
    if changes.rollback {
        let _ = write!(
            body,
            r#"<p class="notice">A step back: these {counted} are taken away.</p>"#
        );
    } else {
        let _ = write!(body, "<p>{counted}, newest first.</p>");
    }
    if let Some(url) = &changes.compare_url {
        let (href, _) = changes_href(&changes.service, Some(url), &changes.from, &changes.to);
        let _ = write!(
            body,
            r#"<p><a href="{}" rel="noreferrer">The same on the source repository's site</a></p>"#,
            esc(&href)
        );
    }
    body.push_str(r#"<table class="stack"><thead><tr><th>Commit</th><th>Subject</th><th>Author</th><th>When</th></tr></thead><tbody>"#);
    for commit in &changes.commits {
        let when = Timestamp::from_second(commit.time)
            .map(|t| time_tag_at(t, now))
            .unwrap_or_default();
        let _ = write!(
            body,
            r#"<tr><td data-label="Commit"><code title="{}">{}</code></td><td data-label="Subject">{}</td><td data-label="Author">{}</td><td data-label="When">{when}</td></tr>"#,
            esc(&commit.sha),
            esc(&commit.short),
            esc(&commit.subject),
            esc(&commit.author)
        );
    }
    body.push_str("</tbody></table>");
    if changes.total > changes.commits.len() {
        let _ = write!(
            body,
            "<p>and {} more.</p>",
            changes.total - changes.commits.len()
        );
    }
    Page {
        title: &format!("{} changes", changes.service),
        crumbs: Vec::new(),
        body,
        live: false,
    }
    .render()
}
