//! The sandbox over real HTTP on 127.0.0.1: routes, auth, key expiry, paging, faults, control
//! routes and the seeded organisation.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use cognigy_warden::sandbox::{FaultsPatch, KeyRoutes, Sandbox, SandboxOptions, SandboxStats};
use reqwest::StatusCode;
use serde_json::{Value, json};

const USER: &str = "warden";
const PASSWORD: &str = "sandbox-password";
const NOW: i64 = 1_750_000_000;
const DAY: i64 = 86_400;

async fn start(opts: SandboxOptions) -> Sandbox {
    Sandbox::start(opts).await.expect("sandbox starts")
}

async fn start_default() -> Sandbox {
    start(SandboxOptions {
        now: Some(NOW),
        ..Default::default()
    })
    .await
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
    text: String,
}

async fn answer(r: reqwest::RequestBuilder) -> Answer {
    let r = r.send().await.expect("request sent");
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body read");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    Answer {
        status,
        headers,
        body,
        text,
    }
}

/// Asserts an RFC 7807 problem with the given status and code.
fn assert_problem(a: &Answer, status: u16, code: u64) {
    assert_eq!(a.status.as_u16(), status, "{}", a.text);
    assert_eq!(a.body["status"], status, "{}", a.text);
    assert_eq!(a.body["code"], code, "{}", a.text);
    assert_eq!(a.body["type"], "about:blank");
    assert!(a.body["title"].is_string());
    assert!(a.body["detail"].is_string());
    assert!(a.body["instance"].as_str().unwrap().starts_with('/'));
    assert!(a.body["traceId"].as_str().unwrap().starts_with("api--"));
    assert!(a.body["details"].is_object());
}

async fn create_key_path(sb: &Sandbox, org: &str, user: &str, pass: &str) -> Answer {
    answer(
        http()
            .post(format!(
                "{}/new/management/v2.0/organisations/{org}/apikeys",
                sb.base_url()
            ))
            .basic_auth(user, Some(pass)),
    )
    .await
}

async fn create_key_body(sb: &Sandbox, org: &str) -> Answer {
    answer(
        http()
            .post(format!(
                "{}/new/management/v2.0/organisations/apikeys",
                sb.base_url()
            ))
            .basic_auth(USER, Some(PASSWORD))
            .json(&json!({ "organisationId": org })),
    )
    .await
}

async fn key(sb: &Sandbox) -> String {
    let a = create_key_path(sb, &sb.organisation_id(), USER, PASSWORD).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    a.body["apiKey"].as_str().unwrap().to_string()
}

async fn get(sb: &Sandbox, key: &str, path_and_query: &str) -> Answer {
    answer(
        http()
            .get(format!("{}{path_and_query}", sb.base_url()))
            .header("X-API-Key", key),
    )
    .await
}

/// Every item of a list route, walked with `next` cursors.
async fn walk(sb: &Sandbox, key: &str, route: &str, limit: usize) -> Vec<Value> {
    let sep = if route.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{route}{sep}limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&next={c}"));
        }
        let a = get(sb, key, &url).await;
        assert_eq!(a.status, StatusCode::OK, "{url}: {}", a.text);
        let page = a.body["items"].as_array().unwrap().clone();
        assert!(page.len() <= limit);
        items.extend(page);
        match a.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert!(a.body["nextCursor"].is_null());
                return items;
            }
        }
    }
}

async fn control_post(sb: &Sandbox, path: &str, body: Value) -> Answer {
    answer(http().post(format!("{}{path}", sb.base_url())).json(&body)).await
}

async fn stats_over_http(sb: &Sandbox) -> SandboxStats {
    let a = answer(http().get(format!("{}/_sandbox/stats", sb.base_url()))).await;
    serde_json::from_value(a.body).unwrap()
}

#[tokio::test]
async fn paging_walks_every_flow_exactly_once_and_checks_its_parameters() {
    let sb = start_default().await;
    let key = key(&sb).await;
    let org = sb.organisation();

    let projects = walk(&sb, &key, "/new/v2.0/projects", 5).await;
    let project_ids: Vec<&str> = projects
        .iter()
        .map(|p| p["_id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = org.projects.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(project_ids, expected);

    let mut seen = HashSet::new();
    for pid in &project_ids {
        let flows = walk(&sb, &key, &format!("/new/v2.0/flows?projectId={pid}"), 3).await;
        let ids: Vec<String> = flows
            .iter()
            .map(|f| f["_id"].as_str().unwrap().to_string())
            .collect();
        let expected: Vec<String> = org.assets[*pid]
            .flows
            .iter()
            .map(|f| f.id.clone())
            .collect();
        assert_eq!(ids, expected, "creation order, each flow once");
        for f in &flows {
            assert!(f.get("projectId").is_none(), "flows carry no projectId");
            for field in [
                "referenceId",
                "name",
                "isTrainingOutOfDate",
                "createdAt",
                "lastChanged",
                "createdBy",
                "lastChangedBy",
            ] {
                assert!(f.get(field).is_some(), "flow lacks {field}: {f}");
            }
        }
        for id in ids {
            assert!(seen.insert(id), "flow seen twice");
        }
    }
    assert_eq!(seen.len(), org.flow_count());
    assert_eq!(seen.len(), 12 * 8);

    // The envelope: total, cursors; previous walks back.
    let pid = project_ids[0];
    let first = get(
        &sb,
        &key,
        &format!("/new/v2.0/flows?projectId={pid}&limit=3"),
    )
    .await;
    assert_eq!(first.body["total"], 8);
    assert!(first.body["previousCursor"].is_null());
    let next = first.body["nextCursor"].as_str().unwrap();
    let second = get(
        &sb,
        &key,
        &format!("/new/v2.0/flows?projectId={pid}&limit=3&next={next}"),
    )
    .await;
    let prev = second.body["previousCursor"].as_str().unwrap();
    let back = get(
        &sb,
        &key,
        &format!("/new/v2.0/flows?projectId={pid}&limit=3&previous={prev}"),
    )
    .await;
    assert_eq!(back.body["items"], first.body["items"]);
    let skipped = get(
        &sb,
        &key,
        &format!("/new/v2.0/flows?projectId={pid}&limit=3&skip=3"),
    )
    .await;
    assert_eq!(skipped.body["items"], second.body["items"]);
    let default_limit = get(&sb, &key, "/new/v2.0/projects").await;
    assert_eq!(default_limit.body["items"].as_array().unwrap().len(), 12);

    for bad in [
        "limit=101",
        "limit=0",
        "limit=many",
        "skip=-2",
        "next=xyz",
        "sort=name:sideways",
    ] {
        let a = get(&sb, &key, &format!("/new/v2.0/flows?projectId={pid}&{bad}")).await;
        assert_problem(&a, 400, 1000);
    }
    let a = get(&sb, &key, "/new/v2.0/flows").await;
    assert_problem(&a, 400, 1000);
    assert!(a.body["detail"].as_str().unwrap().contains("projectId"));
    let a = get(
        &sb,
        &key,
        &format!("/new/v2.0/flows?projectId={}", "a".repeat(24)),
    )
    .await;
    assert_problem(&a, 404, 1002);
    let a = get(
        &sb,
        &key,
        &format!("/new/v2.0/projects/{}/members", "b".repeat(24)),
    )
    .await;
    assert_problem(&a, 404, 1002);
    let a = get(&sb, &key, &format!("/new/v2.0/users/{}", "c".repeat(24))).await;
    assert_problem(&a, 404, 1002);
}

#[tokio::test]
async fn filter_sort_and_item_shapes_follow_the_contract() {
    let sb = start_default().await;
    let key = key(&sb).await;
    let org = sb.organisation();
    let pid = org.projects.as_slice()[0].id.clone();

    let a = get(
        &sb,
        &key,
        &format!("/new/v2.0/flows?projectId={pid}&filter=order&limit=100"),
    )
    .await;
    let names: Vec<&str> = a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(!names.is_empty());
    assert!(
        names.iter().all(|n| n.to_lowercase().contains("order")),
        "{names:?}"
    );
    assert_eq!(a.body["total"], names.len());

    let a = get(
        &sb,
        &key,
        &format!("/new/v2.0/flows?projectId={pid}&sort=lastChanged:desc&limit=100"),
    )
    .await;
    let times: Vec<i64> = a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["lastChanged"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    // Users list vs single user.
    let users = walk(&sb, &key, "/new/v2.0/users", 100).await;
    assert_eq!(users.len(), org.users.len());
    let keys: BTreeSet<&str> = users[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "_id",
            "id",
            "name",
            "lastActive",
            "createdAt",
            "lastChanged"
        ])
    );
    let uid = users[0]["_id"].as_str().unwrap();
    let one = get(&sb, &key, &format!("/new/v2.0/users/{uid}")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert!(one.body["roles"].is_array() && one.body["projects"].is_array());
    assert!(one.body["disabled"].is_boolean());
    assert!(one.body["id"].as_str().unwrap().contains('@'));

    // Members join the user's e-mail and name.
    let member_project = org
        .assets
        .iter()
        .find(|(_, a)| !a.members.is_empty())
        .unwrap();
    let members = get(
        &sb,
        &key,
        &format!("/new/v2.0/projects/{}/members", member_project.0),
    )
    .await;
    let m = &members.body["items"][0];
    let user = org.user(m["_id"].as_str().unwrap()).unwrap();
    assert_eq!(m["id"], user.email.as_str());
    assert_eq!(m["name"], user.name.as_str());
    assert!(m["roles"].is_array());

    // Endpoints use the contract's field names.
    let e = get(&sb, &key, &format!("/new/v2.0/endpoints?projectId={pid}")).await;
    let e = &e.body["items"][0];
    for field in [
        "_id",
        "name",
        "channel",
        "URLToken",
        "flowId",
        "localeId",
        "createdAt",
        "lastChanged",
    ] {
        assert!(e.get(field).is_some(), "endpoint lacks {field}");
    }

    // The key is also accepted as `api_key`, and a GET with a body is served as usual.
    let a = answer(http().get(format!(
        "{}/new/v2.0/projects?api_key={key}&limit=1",
        sb.base_url()
    )))
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = answer(
        http()
            .get(format!("{}/new/v2.0/projects?limit=1", sb.base_url()))
            .header("X-API-Key", &key)
            .body("{\"ignored\":true}"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn both_key_forms_and_the_key_routes_option() {
    let sb = start_default().await;
    let org = sb.organisation_id();
    for a in [
        create_key_path(&sb, &org, USER, PASSWORD).await,
        create_key_body(&sb, &org).await,
    ] {
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        assert_eq!(a.body["name"], "super-api-key");
        let id = a.body["_id"].as_str().unwrap();
        assert!(id.len() == 24 && id.chars().all(|c| c.is_ascii_hexdigit()));
        let k = a.body["apiKey"].as_str().unwrap();
        assert!(k.starts_with("sbx_") && k.len() == 44);
        assert!(k[4..].chars().all(|c| c.is_ascii_hexdigit()));
        let created = a.body["createdAt"].as_i64().unwrap();
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((created - wall).abs() < 60, "createdAt is Unix seconds");
    }
    assert_eq!(sb.stats().keys_issued, 2);
    let unknown = "0".repeat(24);
    assert_problem(
        &create_key_path(&sb, &unknown, USER, PASSWORD).await,
        404,
        1002,
    );
    assert_problem(&create_key_body(&sb, &unknown).await, 404, 1002);
    let a = answer(
        http()
            .post(format!(
                "{}/new/management/v2.0/organisations/apikeys",
                sb.base_url()
            ))
            .basic_auth(USER, Some(PASSWORD))
            .json(&json!({})),
    )
    .await;
    assert_problem(&a, 400, 1000);

    let path_only = start(SandboxOptions {
        key_routes: KeyRoutes::Path,
        ..Default::default()
    })
    .await;
    let org = path_only.organisation_id();
    assert_eq!(
        create_key_path(&path_only, &org, USER, PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
    let a = create_key_body(&path_only, &org).await;
    assert_problem(&a, 404, 404);

    let body_only = start(SandboxOptions {
        key_routes: KeyRoutes::Body,
        ..Default::default()
    })
    .await;
    let org = body_only.organisation_id();
    assert_eq!(
        create_key_body(&body_only, &org).await.status,
        StatusCode::OK
    );
    let a = create_key_path(&body_only, &org, USER, PASSWORD).await;
    assert_problem(&a, 404, 404);
}

#[tokio::test]
async fn management_routes_need_the_right_basic_credentials() {
    let sb = start_default().await;
    let org = sb.organisation_id();
    let a = create_key_path(&sb, &org, USER, "wrong-password").await;
    assert_problem(&a, 401, 401);
    let a = create_key_path(&sb, &org, "someone", PASSWORD).await;
    assert_problem(&a, 401, 401);
    let a = answer(http().post(format!(
        "{}/new/management/v2.0/organisations/{org}/apikeys",
        sb.base_url()
    )))
    .await;
    assert_problem(&a, 401, 401);
    assert_eq!(sb.stats().keys_issued, 0);

    let url = format!("{}/new/management/v2.0/organisations", sb.base_url());
    let a = answer(http().get(&url).basic_auth(USER, Some("nope"))).await;
    assert_problem(&a, 401, 401);
    let a = answer(http().get(&url).basic_auth(USER, Some(PASSWORD))).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["total"], 1);
    assert!(a.body["nextCursor"].is_null());
    let o = &a.body["items"][0];
    assert_eq!(o["_id"], org.as_str());
    assert_eq!(o["disabled"], false);
    for q in [
        "quotaMaxProjects",
        "quotaMaxUsers",
        "quotaMaxChannelsPerProject",
        "quotaMaxMessagesPerDay",
    ] {
        assert!(o[q].as_u64().is_some(), "{q} missing");
    }
    // A management credential is no API key, and an API key is no management credential.
    let key = key(&sb).await;
    let a = answer(http().get(&url).header("X-API-Key", &key)).await;
    assert_problem(&a, 401, 401);
    let a = answer(
        http()
            .get(format!("{}/new/v2.0/projects", sb.base_url()))
            .basic_auth(USER, Some(PASSWORD)),
    )
    .await;
    assert_problem(&a, 401, 401);
}

#[tokio::test]
async fn a_key_works_until_its_short_ttl_ends_then_is_rejected_as_expired() {
    let sb = start(SandboxOptions {
        ttl: Duration::from_millis(1500),
        ..Default::default()
    })
    .await;
    let key = key(&sb).await;
    let a = get(&sb, &key, "/new/v2.0/projects?limit=1").await;
    assert_eq!(a.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let a = get(&sb, &key, "/new/v2.0/projects?limit=1").await;
    assert_problem(&a, 401, 401);
    assert!(
        a.body["detail"].as_str().unwrap().contains("expired"),
        "{}",
        a.text
    );
    let stats = sb.stats();
    assert_eq!(stats.requests_rejected_expired_key, 1);
    assert_eq!(stats.requests_rejected_invalid_key, 0);
    // A fresh key works again.
    let fresh = self::key(&sb).await;
    assert_eq!(
        get(&sb, &fresh, "/new/v2.0/projects?limit=1").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn revoked_missing_and_unknown_keys_are_rejected_as_invalid() {
    let sb = start_default().await;
    let key = key(&sb).await;
    assert_eq!(
        get(&sb, &key, "/new/v2.0/users").await.status,
        StatusCode::OK
    );
    let a = control_post(&sb, "/_sandbox/revoke-keys", json!({})).await;
    assert_eq!(a.body["revoked"], 1);
    assert_problem(&get(&sb, &key, "/new/v2.0/users").await, 401, 401);
    assert_problem(&get(&sb, "sbx_0000", "/new/v2.0/users").await, 401, 401);
    let a = answer(http().get(format!("{}/new/v2.0/users", sb.base_url()))).await;
    assert_problem(&a, 401, 401);
    assert_eq!(sb.stats().requests_rejected_invalid_key, 3);

    // The method form revokes too.
    let second = self::key(&sb).await;
    assert_eq!(
        get(&sb, &second, "/new/v2.0/users").await.status,
        StatusCode::OK
    );
    sb.revoke_keys();
    assert_problem(&get(&sb, &second, "/new/v2.0/users").await, 401, 401);
    assert_eq!(sb.stats().requests_rejected_expired_key, 0);
}

#[tokio::test]
async fn faults_patch_keeps_absent_fields_reset_clears_and_429_carries_retry_after() {
    let sb = start_default().await;
    let key = key(&sb).await;
    let a = control_post(&sb, "/_sandbox/faults", json!({})).await;
    assert_eq!(
        a.body,
        json!({"management_outage": false, "error_rate": 0.0, "error_status": 503,
               "rate_limited_rate": 0.0, "retry_after_s": 1, "extra_latency_ms": 0})
    );

    let a = control_post(
        &sb,
        "/_sandbox/faults",
        json!({"rate_limited_rate": 1.0, "retry_after_s": 7}),
    )
    .await;
    assert_eq!(a.body["rate_limited_rate"], 1.0);
    let a = control_post(&sb, "/_sandbox/faults", json!({})).await;
    assert_eq!(
        (
            a.body["rate_limited_rate"].as_f64(),
            a.body["retry_after_s"].as_u64()
        ),
        (Some(1.0), Some(7))
    );
    let a = get(&sb, &key, "/new/v2.0/projects").await;
    assert_problem(&a, 429, 429);
    assert_eq!(a.headers["retry-after"], "7");

    let a = control_post(
        &sb,
        "/_sandbox/faults",
        json!({"rate_limited_rate": 0.0, "error_rate": 1.0, "error_status": 502}),
    )
    .await;
    assert_eq!(a.body["retry_after_s"], 7, "absent fields keep their value");
    assert_problem(&get(&sb, &key, "/new/v2.0/projects").await, 502, 502);

    // Management outage: management routes answer 503, resource routes are not affected by it.
    sb.set_faults(FaultsPatch {
        management_outage: Some(true),
        error_rate: Some(0.0),
        ..Default::default()
    });
    let org = sb.organisation_id();
    assert_problem(&create_key_path(&sb, &org, USER, PASSWORD).await, 503, 503);
    assert_eq!(
        get(&sb, &key, "/new/v2.0/projects").await.status,
        StatusCode::OK
    );

    let stats = sb.stats();
    assert_eq!(stats.requests_rate_limited, 1);
    assert_eq!(stats.requests_failed_injected, 2);

    // Bad values are refused with a clear problem and change nothing.
    let a = control_post(&sb, "/_sandbox/faults", json!({"error_rate": 3})).await;
    assert_problem(&a, 400, 1000);
    assert!(a.body["detail"].as_str().unwrap().contains("error_rate"));
    let a = control_post(&sb, "/_sandbox/faults", json!({"eror_rate": 0.5})).await;
    assert_problem(&a, 400, 1000);
    assert!(sb.faults().management_outage);

    let a = control_post(&sb, "/_sandbox/faults/reset", json!({})).await;
    assert_eq!(a.body["management_outage"], false);
    assert_eq!(a.body["retry_after_s"], 1);
    assert_eq!(
        create_key_path(&sb, &org, USER, PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn latency_and_extra_latency_delay_every_api_answer() {
    let sb = start(SandboxOptions {
        latency: Duration::from_millis(150),
        ..Default::default()
    })
    .await;
    let started = Instant::now();
    let key = key(&sb).await; // management answers are delayed as well
    assert!(started.elapsed() >= Duration::from_millis(150));
    sb.set_faults(FaultsPatch {
        extra_latency_ms: Some(100),
        ..Default::default()
    });
    let started = Instant::now();
    assert_eq!(
        get(&sb, &key, "/new/v2.0/projects").await.status,
        StatusCode::OK
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn disabled_routes_answer_404_and_others_keep_working() {
    let sb = start(SandboxOptions {
        disabled_routes: vec!["aiagents".into(), "members".into()],
        ..Default::default()
    })
    .await;
    let key = key(&sb).await;
    let pid = sb.organisation().projects.as_slice()[0].id.clone();
    assert_problem(
        &get(&sb, &key, &format!("/new/v2.0/aiagents?projectId={pid}")).await,
        404,
        404,
    );
    assert_problem(
        &get(&sb, &key, &format!("/new/v2.0/projects/{pid}/members")).await,
        404,
        404,
    );
    assert_eq!(
        get(&sb, &key, &format!("/new/v2.0/flows?projectId={pid}"))
            .await
            .status,
        StatusCode::OK
    );

    let e = Sandbox::start(SandboxOptions {
        disabled_routes: vec!["widgets".into()],
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(e.to_string().contains("widgets"), "{e}");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_problems() {
    let sb = start_default().await;
    let key = key(&sb).await;
    assert_problem(
        &get(&sb, &key, "/new/v2.0/widgets?projectId=x").await,
        404,
        404,
    );
    assert_problem(&get(&sb, &key, "/nothing/here").await, 404, 404);
    let a = answer(
        http()
            .delete(format!("{}/new/v2.0/projects", sb.base_url()))
            .header("X-API-Key", &key),
    )
    .await;
    assert_problem(&a, 405, 405);
    let a = answer(http().delete(format!("{}/_sandbox/stats", sb.base_url()))).await;
    assert_problem(&a, 405, 405);
}

#[tokio::test]
async fn mutation_routes_create_change_and_delete_items() {
    let sb = start_default().await;
    let key = key(&sb).await;
    let base = sb.base_url();
    let pid = sb.organisation().projects.as_slice()[3].id.clone();
    let flows_url = format!("/new/v2.0/flows?projectId={pid}&limit=100");

    let made = control_post(
        &sb,
        "/_sandbox/assets/flows",
        json!({"projectId": pid, "name": "Brand New Flow"}),
    )
    .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.text);
    let fid = made.body["_id"].as_str().unwrap().to_string();
    let listed = get(&sb, &key, &flows_url).await;
    assert_eq!(listed.body["total"], 9);
    assert_eq!(
        listed.body["items"][8]["name"], "Brand New Flow",
        "new items come last"
    );

    let a = answer(
        http()
            .patch(format!("{base}/_sandbox/assets/flows/{fid}"))
            .json(&json!({"name": "Renamed", "lastChanged": NOW - 10})),
    )
    .await;
    assert_eq!(a.body["name"], "Renamed");
    let listed = get(&sb, &key, &flows_url).await;
    assert_eq!(listed.body["items"][8]["name"], "Renamed");
    assert_eq!(listed.body["items"][8]["lastChanged"], NOW - 10);

    let a = answer(http().delete(format!("{base}/_sandbox/assets/flows/{fid}"))).await;
    assert_eq!(a.body["_id"], fid.as_str());
    assert_eq!(get(&sb, &key, &flows_url).await.body["total"], 8);
    let a = answer(http().delete(format!("{base}/_sandbox/assets/flows/{fid}"))).await;
    assert_problem(&a, 404, 1002);

    // Members: adding one shows in the members list and in the user's projects.
    let org = sb.organisation();
    let empty = org.projects.as_slice()[2].id.clone(); // no members by construction
    let uid = org.users.as_slice()[1].id.clone();
    let a = control_post(
        &sb,
        "/_sandbox/assets/members",
        json!({"projectId": empty, "userId": uid, "roles": ["projectAdmin"]}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let members = get(&sb, &key, &format!("/new/v2.0/projects/{empty}/members")).await;
    assert_eq!(members.body["items"][0]["_id"], uid.as_str());
    assert_eq!(members.body["items"][0]["roles"], json!(["projectAdmin"]));
    let user = get(&sb, &key, &format!("/new/v2.0/users/{uid}")).await;
    assert!(
        user.body["projects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == empty.as_str())
    );
    let a = answer(http().delete(format!(
        "{base}/_sandbox/assets/members/{uid}?projectId={empty}"
    )))
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        get(&sb, &key, &format!("/new/v2.0/projects/{empty}/members"))
            .await
            .body["total"],
        0
    );

    // Projects and users; disabling a user.
    let p = control_post(
        &sb,
        "/_sandbox/assets/projects",
        json!({"name": "Fresh Project"}),
    )
    .await;
    let new_pid = p.body["_id"].as_str().unwrap().to_string();
    let flows = get(&sb, &key, &format!("/new/v2.0/flows?projectId={new_pid}")).await;
    assert_eq!(
        (flows.status, flows.body["total"].as_u64()),
        (StatusCode::OK, Some(0))
    );
    let a = answer(
        http()
            .patch(format!("{base}/_sandbox/assets/users/{uid}"))
            .json(&json!({"disabled": true})),
    )
    .await;
    assert_eq!(a.body["disabled"], true);
    assert_eq!(
        get(&sb, &key, &format!("/new/v2.0/users/{uid}")).await.body["disabled"],
        true
    );

    // Audit events and the other per-project types work the same way.
    let ev = control_post(
        &sb,
        "/_sandbox/assets/auditevents",
        json!({"projectId": pid, "type": "delete", "timestamp": NOW}),
    )
    .await;
    assert_eq!(ev.body["projectReference"], pid.as_str());
    let ext = control_post(
        &sb,
        "/_sandbox/assets/extensions",
        json!({"projectId": pid, "trustedCode": true}),
    )
    .await;
    assert_eq!(ext.body["trustedCode"], true);

    // Errors are problems that say what is wrong.
    let a = control_post(&sb, "/_sandbox/assets/widgets", json!({})).await;
    assert_problem(&a, 404, 1002);
    let a = control_post(&sb, "/_sandbox/assets/flows", json!({"name": "x"})).await;
    assert_problem(&a, 400, 1000);
    assert!(a.body["detail"].as_str().unwrap().contains("projectId"));
    let a = control_post(
        &sb,
        "/_sandbox/assets/flows",
        json!({"projectId": pid, "name": 5}),
    )
    .await;
    assert_problem(&a, 400, 1000);

    // Mutations count in no stats: only the key creation and the eight GETs above do.
    let stats = stats_over_http(&sb).await;
    assert_eq!(
        (stats.requests_total, stats.management_requests),
        (1 + 8, 1)
    );
}

#[tokio::test]
async fn same_seed_gives_identical_data_and_another_seed_differs() {
    let opts = |seed| SandboxOptions {
        seed,
        now: Some(NOW),
        ..Default::default()
    };
    let a = start(opts(42)).await;
    let b = start(opts(42)).await;
    let c = start(opts(43)).await;
    let dump = |sb: &Sandbox| {
        let url = format!("{}/_sandbox/organisation", sb.base_url());
        async move { http().get(url).send().await.unwrap().text().await.unwrap() }
    };
    let (ja, jb, jc) = (dump(&a).await, dump(&b).await, dump(&c).await);
    assert!(ja.len() > 10_000);
    assert_eq!(ja, jb);
    assert_ne!(ja, jc);
    assert_eq!(a.organisation_id(), b.organisation_id());
    assert_ne!(a.organisation_id(), c.organisation_id());
    let parsed: Value = serde_json::from_str(&ja).unwrap();
    assert_eq!(parsed["now"], NOW);
    assert_eq!(parsed["projects"].as_array().unwrap().len(), 12);
}

/// Every seeded audit case, found through the resource API at the default size.
#[tokio::test]
async fn every_seeded_audit_case_is_visible_through_the_api() {
    let sb = start_default().await;
    let key = key(&sb).await;
    let year_ago = NOW - 365 * DAY;
    let projects = walk(&sb, &key, "/new/v2.0/projects", 100).await;
    assert_eq!(projects.len(), 12);

    let (
        mut no_description,
        mut stale,
        mut dangling,
        mut trusted,
        mut old_snapshot,
        mut expired_package,
        mut no_members,
    ) = (0, 0, 0, 0, 0, 0, 0);
    let mut member_ids = BTreeSet::new();
    let mut recent_types = BTreeSet::new();
    let mut old_events = 0;
    for p in &projects {
        let pid = p["_id"].as_str().unwrap();
        let flows = walk(&sb, &key, &format!("/new/v2.0/flows?projectId={pid}"), 100).await;
        let flow_ids: HashSet<&str> = flows.iter().map(|f| f["_id"].as_str().unwrap()).collect();
        no_description += flows
            .iter()
            .filter(|f| f.get("description").is_none())
            .count();
        stale += flows
            .iter()
            .filter(|f| f["lastChanged"].as_i64().unwrap() < year_ago)
            .count();
        for e in walk(
            &sb,
            &key,
            &format!("/new/v2.0/endpoints?projectId={pid}"),
            100,
        )
        .await
        {
            if !flow_ids.contains(e["flowId"].as_str().unwrap()) {
                dangling += 1;
            }
        }
        let extensions = walk(
            &sb,
            &key,
            &format!("/new/v2.0/extensions?projectId={pid}"),
            100,
        )
        .await;
        trusted += extensions
            .iter()
            .filter(|x| x["trustedCode"] == true)
            .count();
        for s in walk(
            &sb,
            &key,
            &format!("/new/v2.0/snapshots?projectId={pid}"),
            100,
        )
        .await
        {
            if s["createdAt"].as_i64().unwrap() < year_ago {
                old_snapshot += 1;
            }
            if s["isPackaged"] == true && s["packageExpiresAt"].as_i64().unwrap() < NOW {
                expired_package += 1;
            }
        }
        let members = walk(&sb, &key, &format!("/new/v2.0/projects/{pid}/members"), 100).await;
        if members.is_empty() {
            no_members += 1;
        }
        member_ids.extend(
            members
                .iter()
                .map(|m| m["_id"].as_str().unwrap().to_string()),
        );
        for e in walk(
            &sb,
            &key,
            &format!("/new/v2.0/auditevents?projectId={pid}"),
            100,
        )
        .await
        {
            let ts = e["timestamp"].as_i64().unwrap();
            assert!(ts > NOW - 30 * DAY, "audit events are kept 30 days");
            if ts > NOW - DAY {
                recent_types.insert(e["type"].as_str().unwrap().to_string());
            } else {
                old_events += 1;
            }
        }
        for list in [
            "lexicons",
            "locales",
            "playbooks",
            "knowledgestores",
            "aiagents",
        ] {
            let items = walk(&sb, &key, &format!("/new/v2.0/{list}?projectId={pid}"), 100).await;
            assert!((1..=3).contains(&items.len()), "{list}: {}", items.len());
        }
    }
    assert!(no_description > 0, "flows without description");
    assert!(stale > 0, "flows unchanged for a year");
    assert!(dangling > 0, "endpoints naming no flow");
    assert!(trusted > 0, "trusted-code extensions");
    assert!(old_snapshot > 0, "snapshots older than a year");
    assert!(expired_package > 0, "expired snapshot packages");
    assert!(no_members > 0, "projects without members");
    assert_eq!(
        recent_types,
        [
            "action",
            "create",
            "delete",
            "patch",
            "replace",
            "unauthorized"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
    assert!(old_events > 0, "audit events older than 24 h");

    let mut disabled_members = 0;
    for uid in &member_ids {
        let u = get(&sb, &key, &format!("/new/v2.0/users/{uid}")).await;
        if u.body["disabled"] == true {
            assert!(!u.body["projects"].as_array().unwrap().is_empty());
            disabled_members += 1;
        }
    }
    assert!(
        disabled_members > 0,
        "disabled users still members of a project"
    );

    let users = walk(&sb, &key, "/new/v2.0/users", 100).await;
    let org = answer(
        http()
            .get(format!(
                "{}/new/management/v2.0/organisations",
                sb.base_url()
            ))
            .basic_auth(USER, Some(PASSWORD)),
    )
    .await;
    let o = &org.body["items"][0];
    assert!(projects.len() as f64 >= 0.9 * o["quotaMaxProjects"].as_f64().unwrap());
    assert!((users.len() as f64) < 0.9 * o["quotaMaxUsers"].as_f64().unwrap());
}

#[tokio::test]
async fn stats_count_api_requests_only_and_track_concurrency() {
    let sb = start(SandboxOptions {
        latency: Duration::from_millis(400),
        ..Default::default()
    })
    .await;
    let key = key(&sb).await; // 1 management request
    let bad = create_key_path(&sb, &sb.organisation_id(), USER, "x").await; // 2nd
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let requests: Vec<_> = (0..6)
        .map(|_| get(&sb, &key, "/new/v2.0/projects"))
        .collect();
    for a in futures::future::join_all(requests).await {
        assert_eq!(a.status, StatusCode::OK);
    }
    assert_problem(&get(&sb, "sbx_bogus", "/new/v2.0/projects").await, 401, 401);
    // Control routes count in nothing.
    let _ = stats_over_http(&sb).await;
    let _ = control_post(&sb, "/_sandbox/faults", json!({})).await;

    let stats = stats_over_http(&sb).await;
    assert_eq!(stats, sb.stats());
    assert_eq!(stats.keys_issued, 1);
    assert_eq!(stats.management_requests, 2);
    assert_eq!(stats.requests_total, 2 + 6 + 1);
    assert_eq!(stats.requests_rejected_invalid_key, 1);
    assert_eq!(stats.in_flight, 0);
    assert!(
        stats.max_in_flight >= 3,
        "six concurrent slow requests overlap: {stats:?}"
    );
    assert!(stats.max_in_flight <= 6);
}

#[tokio::test]
async fn the_password_never_appears_in_answers_or_the_first_line() {
    let secret = "s3cret-Pa55word-xyz";
    let sb = start(SandboxOptions {
        password: secret.into(),
        ..Default::default()
    })
    .await;
    let base = sb.base_url();
    let org = sb.organisation_id();
    let mut texts = vec![sb.listening_line(), format!("{sb:?}")];
    let good = create_key_path(&sb, &org, USER, secret).await;
    assert_eq!(good.status, StatusCode::OK);
    let key = good.body["apiKey"].as_str().unwrap().to_string();
    texts.push(good.text);
    texts.push(create_key_path(&sb, &org, USER, "wrong").await.text);
    texts.push(create_key_path(&sb, &org, secret, secret).await.text);
    texts.push(
        answer(
            http()
                .get(format!("{base}/new/management/v2.0/organisations"))
                .basic_auth(USER, Some(secret)),
        )
        .await
        .text,
    );
    texts.push(get(&sb, &key, "/new/v2.0/users?limit=100").await.text);
    texts.push(
        answer(http().get(format!("{base}/_sandbox/organisation")))
            .await
            .text,
    );
    texts.push(
        answer(http().get(format!("{base}/_sandbox/stats")))
            .await
            .text,
    );
    texts.push(control_post(&sb, "/_sandbox/faults", json!({})).await.text);
    for t in &texts {
        assert!(!t.contains(secret), "password leaked in: {t}");
    }
    let line = sb.listening_line();
    assert_eq!(
        line,
        format!("sandbox listening on {base} organisation {org} user {USER}")
    );
    assert!(line.starts_with("sandbox listening on http://127.0.0.1:"));
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let sb = start_default().await;
    let url = format!("{}/_sandbox/stats", sb.base_url());
    assert!(http().get(&url).send().await.is_ok());
    sb.shutdown().await;
    assert!(reqwest::Client::new().get(&url).send().await.is_err());
}

/// The foreground mode serves until SIGTERM, then stops cleanly.
#[cfg(unix)]
#[tokio::test]
async fn run_foreground_serves_until_sigterm() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let opts = SandboxOptions {
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        ..Default::default()
    };
    let task = tokio::spawn(cognigy_warden::sandbox::run_foreground(opts));
    let url = format!("http://127.0.0.1:{port}/_sandbox/stats");
    let mut up = false;
    for _ in 0..200 {
        if http().get(&url).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(up, "the foreground sandbox never answered");
    // SAFETY: sending a signal to our own process; run_foreground installed its handler before
    // the server answered, so the signal is caught rather than terminating the test process.
    let sent = unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    assert_eq!(sent, 0);
    let result = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("run_foreground returns after SIGTERM")
        .expect("run_foreground does not panic");
    assert!(result.is_ok(), "{result:?}");
    assert!(reqwest::Client::new().get(&url).send().await.is_err());
}
