//! The frame every page shares: breadcrumbs, a skip link, the stylesheet
//! and the script; the page's own body goes inside `<main>`.

use std::fmt::Write as _;

use super::html::esc;
use super::redact::without_credentials;
use super::script::LIVE;
use super::style::CSS;

pub struct Page<'a> {
    /// Plain text; escaped here.
    pub title: &'a str,
    /// Links above the title, `(href, label)`, plain text; the home page
    /// comes first by itself.
    pub crumbs: Vec<(String, String)>,
    /// Markup, already escaped by whoever built it.
    pub body: String,
    /// A page whose content streams in: without the script it reloads
    /// itself every few seconds instead.
    pub live: bool,
}

impl Page<'_> {
    pub fn render(&self) -> String {
        let mut html = String::with_capacity(self.body.len() + CSS.len() + 1024);
        html.push_str(r#"<!doctype html><html lang="en"><head><meta charset="utf-8">"#);
        html.push_str(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#);
        let _ = write!(html, "<title>{} · Conductor</title>", esc(self.title));
        if self.live {
            html.push_str(r#"<noscript><meta http-equiv="refresh" content="10"></noscript>"#);
        }
        let _ = write!(html, "<style>{CSS}</style></head><body>");
        html.push_str(r##"<a class="skip" href="#main">Skip to content</a>"##);
        html.push_str(r#"<header><nav aria-label="Breadcrumb"><ol class="crumbs"><li><a href="/">Conductor</a></li>"#);
        for (href, label) in &self.crumbs {
            let _ = write!(
                html,
                r#"<li><a href="{}">{}</a></li>"#,
                esc(href),
                esc(label)
            );
        }
        html.push_str(r#"</ol></nav></header><main id="main" tabindex="-1">"#);
        html.push_str(&self.body);
        let _ = write!(html, "</main><script>{LIVE}</script></body></html>");
        html
    }
}

/// A page that only says what went wrong.
pub fn error_page(status: u16, message: &str) -> String {
    Page {
        title: "Error",
        crumbs: Vec::new(),
        body: format!(
            r#"<h1>Error {status}</h1><p class="error" role="alert">{}</p><p><a href="/">Back to every cluster</a></p>"#,
            esc(&without_credentials(message))
        ),
        live: false,
    }
    .render()
}
