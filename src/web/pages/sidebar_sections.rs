//! Settings › Custom Sidebar Sections (owner and admin). The per-section fragment the ticket
//! page loads for agents is `sidebar_fragments`.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::charts::{self, HourBar};
use super::extract::{PageForm, PagePath};
use super::{Layout, PageError, PageUser, flash, render};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::helpdesk::channels::{Channel, list_channels};
use crate::sidebar::configure;
use crate::sidebar::section_input::SectionInput;
use crate::sidebar::sections::{self, FAILURE_LIMIT, Section};
use crate::sidebar::{self, TestReport, failures};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "sidebar_sections/list.html")]
struct ListPage {
    layout: Layout,
    sections: Vec<Section>,
    channels: Vec<Channel>,
    failure_limit: i32,
    /// Each section's calls per hour by outcome (SVG, numbers only), by section id.
    charts: HashMap<i64, String>,
}

impl ListPage {
    fn chart(&self, section: &Section) -> &str {
        self.charts.get(&section.id).map_or("", String::as_str)
    }

    fn channel_names(&self, section: &Section) -> String {
        let names: Vec<&str> = self
            .channels
            .iter()
            .filter(|c| section.channel_ids.contains(&c.id))
            .map(|c| c.name.as_str())
            .collect();
        names.join(", ")
    }
}

pub async fn list(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    jar: CookieJar,
) -> Result<Response, PageError> {
    sections::ensure_may_manage(&user)?;
    let (jar, flash) = flash::take(jar);
    let mut conn = state.pool().acquire().await?;
    let sections = sections::list_sections(&mut conn, &user).await?;
    let calls = failures::hourly_calls(state.pool(), user.user.workspace_id).await?;
    let now = chrono::Utc::now();
    let charts = sections
        .iter()
        .map(|section| {
            let bars: Vec<HourBar> = calls
                .iter()
                .filter(|(id, ..)| *id == section.id)
                .map(|&(_, hour, ok, failed)| HourBar { hour, ok, failed })
                .collect();
            let label = "Calls per hour, last 24 hours";
            (section.id, charts::hourly_outcomes(&bars, now, label))
        })
        .collect();
    let page = ListPage {
        layout: Layout::new("Custom Sidebar Sections", "sidebar-sections", &user, flash),
        sections,
        channels: list_channels(&mut conn, user.user.workspace_id).await?,
        failure_limit: FAILURE_LIMIT,
        charts,
    };
    Ok((jar, render(&page)).into_response())
}

/// The create/edit form, with what was typed and any error, and (on a section's own page)
/// its status and the last Test report.
#[derive(Template)]
#[template(path = "sidebar_sections/form.html")]
struct FormPage {
    layout: Layout,
    section: Option<Section>,
    channels: Vec<Channel>,
    title: String,
    endpoint_url: String,
    secret: String,
    channel_ids: Vec<i64>,
    /// The new-section form's "Enabled" box.
    enabled: bool,
    /// The "Load when a ticket arrives" box.
    load_on_arrival: bool,
    error: Option<(String, String)>,
    report: Option<TestReport>,
    failure_limit: i32,
    signing: Option<sidebar::SigningExample>,
    /// `SIDEBAR_CACHE_TTL`, in seconds.
    cache_ttl_seconds: u64,
}

impl FormPage {
    /// "5 minutes", "2 hours", "45 seconds".
    fn duration_text(&self, seconds: impl std::borrow::Borrow<u64>) -> String {
        let (n, unit) = match *seconds.borrow() {
            s if s >= 3600 && s % 3600 == 0 => (s / 3600, "hour"),
            s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
            s => (s, "second"),
        };
        format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
    }

    fn error_for(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    fn general_error(&self) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| {
                !["title", "endpoint_url", "secret", "channel_ids"].contains(&f.as_str())
            })
            .map(|(_, m)| m.as_str())
    }

    fn is_checked(&self, channel_id: &i64) -> bool {
        self.channel_ids.contains(channel_id)
    }
}

async fn form_page(
    state: &AppState,
    user: &CurrentUser,
    section: Option<Section>,
    flash: Option<String>,
) -> Result<FormPage, PageError> {
    let mut conn = state.pool().acquire().await?;
    let channels = list_channels(&mut conn, user.user.workspace_id).await?;
    let title = match &section {
        Some(s) => format!("Sidebar section \u{201c}{}\u{201d}", s.title),
        None => "New sidebar section".to_string(),
    };
    Ok(FormPage {
        signing: section.as_ref().map(sidebar::signing_example),
        layout: Layout::new(title, "sidebar-sections", user, flash),
        title: section
            .as_ref()
            .map(|s| s.title.clone())
            .unwrap_or_default(),
        endpoint_url: section
            .as_ref()
            .map(|s| s.endpoint().to_string())
            .unwrap_or_default(),
        secret: section
            .as_ref()
            .and_then(|s| s.secret.clone())
            .map(|s| s.0)
            .unwrap_or_default(),
        channel_ids: section
            .as_ref()
            .map(|s| s.channel_ids.clone())
            .unwrap_or_default(),
        enabled: section.as_ref().is_none_or(|s| s.enabled),
        load_on_arrival: section.as_ref().is_some_and(|s| s.load_on_arrival),
        section,
        channels,
        error: None,
        report: None,
        failure_limit: FAILURE_LIMIT,
        cache_ttl_seconds: state.sidebar().settings().cache_ttl.as_secs(),
    })
}

pub async fn new(
    State(state): State<AppState>,
    PageUser(user): PageUser,
) -> Result<Response, PageError> {
    sections::ensure_may_manage(&user)?;
    Ok(render(&form_page(&state, &user, None, None).await?))
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let (jar, flash) = flash::take(jar);
    let section = section_to_manage(&state, &user, id).await?;
    Ok((
        jar,
        render(&form_page(&state, &user, Some(section), flash).await?),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct SectionForm {
    title: String,
    endpoint_url: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    channel_ids: Vec<i64>,
    /// The new-section form's checkbox ("on" when ticked); the edit form has Enable/Disable.
    #[serde(default)]
    enabled: Option<String>,
    /// "Load when a ticket arrives" ("on" when ticked), on both forms.
    #[serde(default)]
    load_on_arrival: Option<String>,
    /// Set on the edit form, so a Test as typed comes back to the section's page.
    #[serde(default)]
    section_id: Option<i64>,
}

impl SectionForm {
    fn input(&self, creating: bool) -> SectionInput {
        SectionInput {
            title: Some(self.title.clone()),
            endpoint_url: Some(self.endpoint_url.clone()),
            secret: Some(self.secret.trim().to_string()),
            channel_ids: Some(self.channel_ids.clone()),
            position: None,
            enabled: creating.then_some(self.enabled.is_some()),
            load_on_arrival: Some(self.load_on_arrival.is_some()),
        }
    }
}

/// Test as typed: the form's endpoint and secret are called before anything is saved, and the
/// form comes back as it was, with the report (and the generated secret, if it was empty).
pub async fn test_draft(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PageForm(form): PageForm<SectionForm>,
) -> Result<Response, PageError> {
    let section = match form.section_id {
        Some(id) => Some(section_to_manage(&state, &user, id).await?),
        None => None,
    };
    let tested = state
        .sidebar()
        .test_draft(&user, &form.endpoint_url, Some(&form.secret))
        .await;
    let (report, secret) = match tested {
        Ok(tested) => tested,
        Err(err) => return refill(&state, &user, section, form, err).await,
    };
    let mut page = form_page(&state, &user, section, None).await?;
    page.title = form.title;
    page.endpoint_url = form.endpoint_url;
    page.secret = secret;
    page.channel_ids = form.channel_ids;
    page.enabled = form.enabled.is_some();
    page.load_on_arrival = form.load_on_arrival.is_some();
    page.report = Some(report);
    Ok(render(&page))
}

/// A form that failed validation comes back with everything the user typed.
async fn refill(
    state: &AppState,
    user: &CurrentUser,
    section: Option<Section>,
    form: SectionForm,
    err: AppError,
) -> Result<Response, PageError> {
    let Some((field, message)) = err.inline_on_form() else {
        return Err(err.into());
    };
    let mut page = form_page(state, user, section, None).await?;
    page.title = form.title;
    page.endpoint_url = form.endpoint_url;
    page.secret = form.secret;
    page.channel_ids = form.channel_ids;
    page.enabled = form.enabled.is_some() || page.section.as_ref().is_some_and(|s| s.enabled);
    page.load_on_arrival = form.load_on_arrival.is_some();
    page.error = Some((field, message));
    Ok((err.status(), render(&page)).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    jar: CookieJar,
    PageForm(form): PageForm<SectionForm>,
) -> Result<Response, PageError> {
    match configure::create_section(
        state.pool(),
        state.outbound(),
        &state.config().limits,
        &user,
        form.input(true),
    )
    .await
    {
        Ok(section) => {
            let jar = flash::set(
                jar,
                "Section created. Use Test to check the endpoint's answer.",
            );
            Ok((
                jar,
                Redirect::to(&format!("/settings/sidebar-sections/{}", section.id)),
            )
                .into_response())
        }
        Err(err) => refill(&state, &user, None, form, err).await,
    }
}

pub async fn update(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
    PageForm(form): PageForm<SectionForm>,
) -> Result<Response, PageError> {
    let mut input = form.input(false);
    // An emptied secret field keeps the current secret rather than failing.
    if input.secret.as_deref() == Some("") {
        input.secret = None;
    }
    match configure::update_section(state.pool(), state.outbound(), &user, id, input).await {
        Ok(_) => Ok((
            flash::set(jar, "Section saved."),
            Redirect::to(&format!("/settings/sidebar-sections/{id}")),
        )
            .into_response()),
        Err(AppError::NotFound) => Err(AppError::NotFound.into()),
        Err(err) => {
            let section = section_to_manage(&state, &user, id).await?;
            refill(&state, &user, Some(section), form, err).await
        }
    }
}

/// The section as its settings page shows it (owners and admins only).
async fn section_to_manage(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
) -> Result<Section, PageError> {
    let mut conn = state.pool().acquire().await?;
    Ok(sections::get_section_to_manage(&mut conn, user, id).await?)
}

pub async fn test(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
) -> Result<Response, PageError> {
    let section = section_to_manage(&state, &user, id).await?;
    let report = state.sidebar().test_section(&user, &section).await?;
    let mut page = form_page(&state, &user, Some(section), None).await?;
    page.report = Some(report);
    Ok(render(&page))
}

/// "Test and re-enable": a disabled section is enabled (failure counter reset) when its Test
/// passes; otherwise it stays disabled and the report says why.
pub async fn test_and_enable(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
) -> Result<Response, PageError> {
    let section = section_to_manage(&state, &user, id).await?;
    let (report, section) = state.sidebar().test_and_enable(&user, &section).await?;
    let flash = if report.ok {
        "Test passed: the section is enabled again, its failure count back at 0."
    } else {
        "Test failed: the section stays disabled. The report below says why."
    };
    let mut page = form_page(&state, &user, Some(section), Some(flash.to_string())).await?;
    page.report = Some(report);
    Ok(render(&page))
}

pub async fn enable(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    configure::set_enabled(state.pool(), &user, id, true).await?;
    Ok((
        flash::set(jar, "Section enabled; its failure count starts again at 0."),
        Redirect::to("/settings/sidebar-sections"),
    )
        .into_response())
}

pub async fn disable(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    configure::set_enabled(state.pool(), &user, id, false).await?;
    Ok((
        flash::set(jar, "Section disabled."),
        Redirect::to("/settings/sidebar-sections"),
    )
        .into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    configure::delete_section(state.pool(), &user, id).await?;
    Ok((
        flash::set(jar, "Section deleted."),
        Redirect::to("/settings/sidebar-sections"),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct MoveForm {
    direction: String,
}

pub async fn move_section(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<MoveForm>,
) -> Result<Response, PageError> {
    let by = if form.direction == "up" { -1 } else { 1 };
    configure::move_section(state.pool(), &user, id, by).await?;
    Ok(Redirect::to("/settings/sidebar-sections").into_response())
}
