//! The demo workspace "Acme": an owner, an admin and an agent, two channels, a few contacts
//! and tickets with some history. Seeding is idempotent: a second run finds Acme and only
//! reports how to log in.

use crate::db::doorbell::Doorbell;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::auth::api_tokens::{NewApiToken, create_api_token};
use crate::config::Config;
use crate::helpdesk::channels::{Channel, create_channel, list_channels};
use crate::helpdesk::intake::{NewContact, NewTicket, receive_ticket};
use crate::helpdesk::messages::{add_agent_reply, add_contact_reply};
use crate::helpdesk::notes::add_note;
use crate::helpdesk::tickets::assign_ticket;
use crate::helpdesk::users::{NewUser, Role, User, create_user, list_users};
use crate::helpdesk::workspaces::{create_workspace, find_workspace_by_name};
use crate::limits::Limits;

pub const WORKSPACE: &str = "Acme";

/// (name, email, handle, password, role) of each demo user.
const PEOPLE: [(&str, &str, &str, &str, Role); 3] = [
    (
        "Olivia Owner",
        "owner@acme.test",
        "olivia",
        "demo-owner-pass",
        Role::Owner,
    ),
    (
        "Adam Admin",
        "admin@acme.test",
        "adam",
        "demo-admin-pass",
        Role::Admin,
    ),
    (
        "Alex Agent",
        "agent@acme.test",
        "alex",
        "demo-agent-pass",
        Role::Agent,
    ),
];

/// Whether, when last checked, a demo person still had the demo's published password.
static PUBLISHED_PASSWORDS_IN_USE: AtomicBool = AtomicBool::new(false);

/// True while a demo account can be signed in to with the password the README publishes
/// (as last checked by [`check_published_passwords`]).
pub fn passwords_in_use() -> bool {
    PUBLISHED_PASSWORDS_IN_USE.load(Ordering::Relaxed)
}

/// Checks whether any demo person's password is still the published one, remembers it for
/// [`passwords_in_use`], and returns the emails that are.
pub async fn check_published_passwords(pool: &PgPool) -> anyhow::Result<Vec<String>> {
    let emails: Vec<String> = PEOPLE.iter().map(|p| p.1.to_string()).collect();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT email, password_hash FROM users
         WHERE email = ANY($1) AND password_hash IS NOT NULL AND deactivated_at IS NULL",
    )
    .bind(&emails)
    .fetch_all(pool)
    .await?;
    let published = tokio::task::spawn_blocking(move || {
        rows.into_iter()
            .filter(|(email, hash)| {
                PEOPLE
                    .iter()
                    .any(|p| p.1 == email && crate::helpdesk::password::verify(p.3, hash))
            })
            .map(|(email, _)| email)
            .collect::<Vec<_>>()
    })
    .await?;
    PUBLISHED_PASSWORDS_IN_USE.store(!published.is_empty(), Ordering::Relaxed);
    Ok(published)
}

pub struct Demo {
    pub workspace_id: i64,
    pub users: Vec<User>,
    pub channels: Vec<Channel>,
}

pub async fn seed(pool: &PgPool) -> anyhow::Result<Demo> {
    let mut conn = pool.acquire().await?;
    if let Some(ws) = find_workspace_by_name(&mut conn, WORKSPACE).await? {
        return Ok(Demo {
            workspace_id: ws.id,
            users: list_users(&mut conn, ws.id).await?,
            channels: list_channels(&mut conn, ws.id).await?,
        });
    }
    drop(conn);

    let mut tx = pool.begin().await?;
    let (name, email, handle, password, _) = PEOPLE[0];
    let (ws, owner) = create_workspace(
        &mut tx,
        WORKSPACE,
        NewUser {
            name,
            email,
            handle,
            password,
            role: Role::Owner,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the demo workspace: {e}"))?;
    let mut users = vec![owner];
    for (name, email, handle, password, role) in &PEOPLE[1..] {
        let user = create_user(
            &mut tx,
            ws.id,
            NewUser {
                name,
                email,
                handle,
                password,
                role: *role,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating demo user {email}: {e}"))?;
        users.push(user);
    }
    let mut channels = Vec::new();
    for name in ["Support", "Billing"] {
        channels.push(
            create_channel(&mut tx, ws.id, name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    tx.commit().await?;

    // Rung after each write's commit, as in the service: running instances fan the demo's
    // events out at once.
    let bell = Doorbell::spawn(pool.clone(), crate::helpdesk::events::NOTIFY_CHANNEL);
    seed_tickets(pool, &bell, ws.id, &users, &channels)
        .await
        .map_err(|e| anyhow::anyhow!("seeding demo tickets: {e}"))?;
    // The bell's last ring may still be on its way when this command exits: one more,
    // sent before returning.
    crate::helpdesk::events::announce(pool).await?;
    Ok(Demo {
        workspace_id: ws.id,
        users,
        channels,
    })
}

async fn seed_tickets(
    pool: &PgPool,
    bell: &Doorbell,
    ws: i64,
    users: &[User],
    channels: &[Channel],
) -> Result<(), crate::error::AppError> {
    let (admin, agent) = (&users[1], &users[2]);
    let ticket =
        |subject: &str, body: &str, name: &str, email: &str, channel: Option<i64>| NewTicket {
            subject: subject.into(),
            body: body.into(),
            contact: NewContact {
                name: name.into(),
                email: email.into(),
            },
            channel_id: channel,
        };
    let login = receive_ticket(
        pool,
        bell,
        ws,
        ticket(
            "I can't log in",
            "Since this morning the login page says my password is wrong.",
            "Jane Doe",
            "jane@example.com",
            Some(channels[0].id),
        ),
    )
    .await?;
    assign_ticket(pool, bell, ws, login.id, Some(admin), Some(agent.id)).await?;
    add_agent_reply(
        pool,
        bell,
        ws,
        login.id,
        agent,
        "Sorry about that, Jane! I've sent you a reset link.",
    )
    .await?;
    add_contact_reply(pool, bell, ws, login.id, "Thanks, that worked.").await?;

    let invoice = receive_ticket(
        pool,
        bell,
        ws,
        ticket(
            "Invoice for October",
            "Could you send the October invoice with our VAT number on it?",
            "Sam Lee",
            "sam@globex.example",
            Some(channels[1].id),
        ),
    )
    .await?;
    add_note(
        pool,
        bell,
        ws,
        invoice.id,
        agent,
        "@adam can you check the VAT field in billing?",
    )
    .await?;

    receive_ticket(
        pool,
        bell,
        ws,
        ticket(
            "Feature request: dark mode",
            "Any plans for a dark theme?",
            "Priya Patel",
            "priya@initech.example",
            None,
        ),
    )
    .await?;
    Ok(())
}

impl Demo {
    /// How to log in, for people.
    pub fn describe(&self, config: &Config) -> String {
        let mut out = format!(
            "Demo workspace \"{WORKSPACE}\" is ready. Open {} and log in as:\n",
            config.app_url
        );
        for (name, email, _, password, role) in PEOPLE {
            out.push_str(&format!(
                "  {:<6} {email:<18} password: {password}   ({name})\n",
                role.as_str()
            ));
        }
        out
    }

    /// Everything a script needs, with a fresh API token per user.
    pub async fn to_json(&self, pool: &PgPool, config: &Config) -> anyhow::Result<Value> {
        let mut conn = pool.acquire().await?;
        let mut users = Vec::new();
        for user in &self.users {
            let password = PEOPLE.iter().find(|p| p.1 == user.email).map(|p| p.3);
            let (_, token) = create_api_token(
                &mut conn,
                &Limits::default(),
                user.id,
                NewApiToken::write("demo"),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            users.push(json!({
                "id": user.id,
                "name": user.name,
                "email": user.email,
                "role": user.role,
                "password": password,
                "api_token": token,
            }));
        }
        Ok(json!({
            "base_url": config.app_url.as_str().trim_end_matches('/'),
            "workspace_id": self.workspace_id,
            "users": users,
            "channels": self.channels.iter().map(|c| json!({ "id": c.id, "name": c.name })).collect::<Vec<_>>(),
        }))
    }
}
