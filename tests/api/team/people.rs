//! People and roles: the last owner stays, admins do not manage owners, deactivation takes
//! access away at once on every instance and gives it back on reactivation.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{LOOPBACK, error_of, eventually, spawn_app, spawn_app_with, ticket_body};
use crate::receiver::{Behaviour, Receiver};

#[tokio::test]
async fn the_last_owner_can_be_neither_demoted_nor_deactivated_and_ownership_is_handed_over() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let owner = app.api(&ws.owner);
    let (status, code, _) = error_of(
        owner
            .patch(
                &format!("/api/users/{}", ws.owner.id),
                &json!({"role": "admin"}),
            )
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "conflict"));
    let (status, _, _) = error_of(
        owner
            .post_empty(&format!("/api/users/{}/deactivate", ws.owner.id))
            .await,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "not oneself, and not the last owner"
    );

    // Handing over: make the admin an owner, then step down.
    let promoted: Value = owner
        .patch(
            &format!("/api/users/{}", ws.admin.id),
            &json!({"role": "owner"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(promoted["role"], "owner");
    let stepped_down = owner
        .patch(
            &format!("/api/users/{}", ws.owner.id),
            &json!({"role": "agent"}),
        )
        .await;
    assert_eq!(stepped_down.status(), StatusCode::OK);
    let (status, _, _) = error_of(
        app.api(&ws.admin)
            .patch(
                &format!("/api/users/{}", ws.admin.id),
                &json!({"role": "admin"}),
            )
            .await,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the new owner is now the last one"
    );
    let owners: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'owner' AND workspace_id = $1")
            .bind(ws.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(owners, 1);
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    app.api(&ws.owner)
        .patch(
            &format!("/api/users/{}", ws.admin.id),
            &json!({"role": "owner"}),
        )
        .await;
    let (a, b) = (app.api(&ws.owner), app.api(&ws.admin));
    let demote = json!({"role": "agent"});
    let (admin_path, owner_path) = (
        format!("/api/users/{}", ws.admin.id),
        format!("/api/users/{}", ws.owner.id),
    );
    let (first, second) =
        tokio::join!(a.patch(&admin_path, &demote), b.patch(&owner_path, &demote));
    let mut statuses = [first.status(), second.status()];
    statuses.sort();
    // The one that ran second either found no other owner (409) or was no owner any more (403).
    assert_eq!(statuses[0], StatusCode::OK, "{statuses:?}");
    assert!(
        statuses[1] == StatusCode::CONFLICT || statuses[1] == StatusCode::FORBIDDEN,
        "{statuses:?}"
    );
    let owners: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'owner' AND workspace_id = $1")
            .bind(ws.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(owners, 1);
}

#[tokio::test]
async fn admins_manage_admins_and_agents_but_not_owners_and_only_owners_change_roles() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let admin = app.api(&ws.admin);
    for path in [
        format!("/api/users/{}/deactivate", ws.owner.id),
        format!("/api/users/{}/reactivate", ws.owner.id),
    ] {
        let (status, code, _) = error_of(admin.post_empty(&path).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{path}"
        );
    }
    let (status, _, _) = error_of(
        admin
            .delete(&format!("/api/users/{}/sessions", ws.owner.id))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = error_of(
        admin
            .patch(
                &format!("/api/users/{}", ws.agent.id),
                &json!({"role": "admin"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only owners change roles");
    let (status, _, _) = error_of(
        app.api(&ws.agent)
            .post_empty(&format!("/api/users/{}/deactivate", ws.admin.id))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let deactivated: Value = admin
        .post_empty(&format!("/api/users/{}/deactivate", ws.agent.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(deactivated["status"], "deactivated");
    let other = app.create_workspace("Other").await;
    assert_eq!(
        app.api(&other.owner)
            .post_empty(&format!("/api/users/{}/reactivate", ws.agent.id))
            .await
            .status(),
        StatusCode::NOT_FOUND,
        "another workspace's people do not exist from here"
    );
}

#[tokio::test]
async fn deactivation_ends_access_at_once_on_every_instance_and_reactivation_restores_it() {
    let app = spawn_app_with(LOOPBACK).await;
    let ws = app.create_workspace("Acme").await;
    let second = app.spawn_instance(&[]).await;
    let agent_page = app.browser(&ws.agent).await;
    let agent_api_elsewhere = app.api_on(&second.address, &ws.agent);
    // Both instances have the agent's credentials remembered.
    assert_eq!(
        agent_api_elsewhere.get("/api/me").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.api(&ws.agent).get("/api/me").await.status(),
        StatusCode::OK
    );
    assert_eq!(agent_page.get("/tickets").await.status(), StatusCode::OK);
    let ticket = app
        .create_ticket(
            &ws.agent,
            ticket_body("Assigned to the agent", "jane@example.com"),
        )
        .await;
    let ticket_id = ticket["id"].as_i64().unwrap();
    app.api(&ws.agent)
        .put(
            &format!("/api/tickets/{ticket_id}/assignee"),
            &json!({"user_id": ws.agent.id}),
        )
        .await;

    let deactivated = app
        .api(&ws.owner)
        .post_empty(&format!("/api/users/{}/deactivate", ws.agent.id))
        .await;
    assert_eq!(deactivated.status(), StatusCode::OK);
    assert_eq!(
        app.api(&ws.agent).get("/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        agent_page.get("/tickets").await.status(),
        StatusCode::SEE_OTHER,
        "the open page is refused"
    );
    eventually(
        "the other instance refuses the token",
        std::time::Duration::from_secs(5),
        || async {
            (agent_api_elsewhere.get("/api/me").await.status() == StatusCode::UNAUTHORIZED)
                .then_some(())
        },
    )
    .await;
    let (status, _) = super::log_in(&app, &ws.agent.email, &ws.agent.password).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no new sign-in either");

    // What they did stays under their name; their ticket waits for reassignment.
    let shown: Value = app
        .api(&ws.owner)
        .get_json(&format!("/api/tickets/{ticket_id}"))
        .await;
    assert_eq!(shown["assignee"]["id"], ws.agent.id);
    assert_eq!(shown["assignee"]["deactivated"], true);
    let team = app
        .browser(&ws.owner)
        .await
        .get_html("/settings/team")
        .await;
    assert!(
        team.contains("Tickets to reassign") && team.contains("Assigned to the agent"),
        "{team}"
    );
    let other = app
        .create_ticket(&ws.owner, ticket_body("Someone else's", "joe@example.com"))
        .await;
    let (status, _, field) = error_of(
        app.api(&ws.owner)
            .put(
                &format!("/api/tickets/{}/assignee", other["id"]),
                &json!({"user_id": ws.agent.id}),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, field.as_deref()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("user_id"))
    );

    let back: Value = app
        .api(&ws.owner)
        .post_empty(&format!("/api/users/{}/reactivate", ws.agent.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(back["status"], "active");
    assert_eq!(
        app.api(&ws.agent).get("/api/me").await.status(),
        StatusCode::OK,
        "tokens work again"
    );
    assert_eq!(
        super::log_in(&app, &ws.agent.email, &ws.agent.password)
            .await
            .0,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_deactivated_persons_personal_destinations_stop_receiving() {
    let app = spawn_app_with(LOOPBACK).await;
    let ws = app.create_workspace("Acme").await;
    let personal = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    let workspace = Receiver::start(Behaviour::Respond(200, "{}".into())).await;
    app.api(&ws.agent)
        .post(
            "/api/webhook-destinations",
            &json!({"scope": "personal", "url": personal.url, "events": ["replyOnAssignedTicket"]}),
        )
        .await;
    app.api(&ws.admin)
        .post(
            "/api/webhook-destinations",
            &json!({"scope": "workspace", "url": workspace.url, "events": ["newReply"]}),
        )
        .await;
    let ticket = app
        .create_ticket(&ws.admin, ticket_body("Help", "jane@example.com"))
        .await;
    let id = ticket["id"].as_i64().unwrap();
    app.api(&ws.admin)
        .put(
            &format!("/api/tickets/{id}/assignee"),
            &json!({"user_id": ws.agent.id}),
        )
        .await;
    let reply = json!({"from": "contact", "body": "Any news?"});
    app.api(&ws.admin)
        .post(&format!("/api/tickets/{id}/messages"), &reply)
        .await;
    personal.wait_for(1).await;
    workspace.wait_for(1).await;

    app.api(&ws.owner)
        .post_empty(&format!("/api/users/{}/deactivate", ws.agent.id))
        .await;
    app.api(&ws.admin)
        .post(&format!("/api/tickets/{id}/messages"), &reply)
        .await;
    workspace.wait_for(2).await;
    // Fan-out handles an event's destinations together: the workspace's delivery is proof
    // the personal one was decided too.
    let personal_deliveries: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_deliveries d JOIN webhook_destinations w ON w.id = d.destination_id
         WHERE w.owner_user_id = $1",
    )
    .bind(ws.agent.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(personal_deliveries, 1);
    assert_eq!(personal.requests().len(), 1);
}

#[tokio::test]
async fn the_team_lists_everyone_with_role_status_and_last_seen() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    app.api(&ws.agent).get("/api/me").await;
    let people: Value = app.api(&ws.agent).get_json("/api/users").await;
    let people = people.as_array().unwrap();
    assert_eq!(people.len(), 3);
    let agent = people.iter().find(|p| p["id"] == ws.agent.id).unwrap();
    assert_eq!(agent["status"], "active");
    assert!(agent["last_seen_at"].is_string(), "{agent}");
    let page = app
        .browser(&ws.agent)
        .await
        .get_html("/settings/team")
        .await;
    assert!(
        page.contains("Acme Owner") && !page.contains("Send invitation"),
        "agents see the team, not the tools"
    );
    let page = app
        .browser(&ws.admin)
        .await
        .get_html("/settings/team")
        .await;
    assert!(
        page.contains("Send invitation") && !page.contains("Change role"),
        "admins invite; owners change roles"
    );
}

#[tokio::test]
async fn owners_end_anyones_sessions_and_everyone_their_own() {
    let app = spawn_app().await;
    let ws = app.create_workspace("Acme").await;
    let agent_a = app.browser(&ws.agent).await;
    let agent_b = app.browser(&ws.agent).await;
    let sessions: Value = app.api(&ws.agent).get_json("/api/sessions").await;
    assert_eq!(sessions.as_array().unwrap().len(), 2);
    let one = sessions[0]["id"].as_i64().unwrap();
    assert_eq!(
        app.api(&ws.admin)
            .delete(&format!("/api/sessions/{one}"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.api(&ws.agent)
            .delete(&format!("/api/sessions/{one}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let alive = [
        agent_a.get("/tickets").await.status(),
        agent_b.get("/tickets").await.status(),
    ];
    assert_eq!(
        alive.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{alive:?}"
    );
    assert_eq!(
        app.api(&ws.owner)
            .delete(&format!("/api/users/{}/sessions", ws.agent.id))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        agent_a.get("/tickets").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        agent_b.get("/tickets").await.status(),
        StatusCode::SEE_OTHER
    );
    let none: Value = app.api(&ws.agent).get_json("/api/sessions").await;
    assert_eq!(none, json!([]));
}
