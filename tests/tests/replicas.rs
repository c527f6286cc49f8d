//! Two authorization-server and two resource-server replicas sharing one real Redis (started by
//! the test on a free loopback port), and the same flows on a real three-master Redis Cluster
//! (`one_redis::…`, `redis_cluster::…`): codes, replay caches and single-use marks hold across
//! replicas, and a Redis outage gives clean errors and heals without restarting anything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use end_to_end::{start, Stack, StackOptions, LOOPBACK_NUMBER};
use nv_store::testing::{RedisCluster, RedisServer};
use nv_store::Store;
use serde_json::Value;

const REDIRECT_PATH: &str = "/demo/callback";
const SCOPE: &str = "openid dpv:FraudPreventionAndDetection number-verification:verify";
const ADMIN_TOKEN: &str = "replica-admin-token-0123456789abcdef";

/// What the replicas share.
enum Redis {
    Node(RedisServer),
    Cluster(RedisCluster),
}

impl Redis {
    fn start_or_skip(cluster: bool) -> Option<Self> {
        if cluster {
            RedisCluster::start_or_skip().map(Self::Cluster)
        } else {
            RedisServer::start_or_skip().map(Self::Node)
        }
    }

    async fn store(&self) -> Arc<dyn Store> {
        match self {
            Self::Node(redis) => Arc::new(redis.store("nv:").await),
            Self::Cluster(cluster) => Arc::new(cluster.store("nv:").await),
        }
    }

    /// An outage of the whole store (on a cluster, every master).
    fn stop(&mut self) {
        match self {
            Self::Node(redis) => redis.stop(),
            Self::Cluster(cluster) => cluster.stop(),
        }
    }

    fn start_again(&mut self) {
        match self {
            Self::Node(redis) => redis.start_again(),
            Self::Cluster(cluster) => cluster.start_again(),
        }
    }
}

struct Replicas {
    redis: Redis,
    a: Stack,
    b: Stack,
    http: reqwest::Client,
}

/// `None` (after printing why) when redis-server (for a cluster, also redis-cli) is not installed
/// and REQUIRE_REDIS_TESTS is unset.
async fn replicas(cluster: bool) -> Option<Replicas> {
    let redis = Redis::start_or_skip(cluster)?;
    let a = start(StackOptions {
        as_store: Some(redis.store().await),
        nv_store: Some(redis.store().await),
        as_admin_token: Some(ADMIN_TOKEN.into()),
        ..Default::default()
    })
    .await;
    let b = start(StackOptions {
        as_store: Some(redis.store().await),
        nv_store: Some(redis.store().await),
        keys_dir: Some(a.keys_path().to_path_buf()),
        issuer: Some(a.issuer.clone()),
        as_admin_token: Some(ADMIN_TOKEN.into()),
        ..Default::default()
    })
    .await;
    assert_eq!(a.issuer, b.issuer);
    let http = server_kit::testing::http_client();
    Some(Replicas { redis, a, b, http })
}

impl Replicas {
    fn redirect_uri(&self) -> String {
        format!("{}{REDIRECT_PATH}", self.a.issuer)
    }

    /// /authorize on the given replica; the Location's query pairs.
    async fn authorize(&self, as_url: &str) -> Vec<(String, String)> {
        let resp = self
            .http
            .get(format!("{as_url}/authorize"))
            .query(&[
                ("response_type", "code"),
                ("client_id", "demo-app"),
                ("redirect_uri", &self.redirect_uri()),
                ("scope", SCOPE),
                ("state", "s"),
                ("prompt", "none"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302);
        let loc = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        loc.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    async fn code(&self, as_url: &str) -> String {
        let pairs = self.authorize(as_url).await;
        pairs
            .iter()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no code: {pairs:?}"))
    }

    async fn redeem_basic(&self, as_url: &str, code: &str) -> reqwest::Response {
        self.http
            .post(format!("{as_url}/token"))
            .basic_auth("demo-app", Some("demo-secret"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri()),
            ])
            .send()
            .await
            .unwrap()
    }

    fn assertion(&self) -> String {
        let now = end_to_end::unix_now();
        self.a
            .demo_key()
            .sign_json(
                None,
                &serde_json::json!({"iss": "demo-app", "sub": "demo-app", "aud": self.a.issuer,
                "iat": now, "exp": now + 120, "jti": uuid::Uuid::new_v4().to_string()}),
            )
            .unwrap()
    }

    async fn redeem_jwt(&self, as_url: &str, code: &str, assertion: &str) -> reqwest::Response {
        self.http
            .post(format!("{as_url}/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
            ])
            .send()
            .await
            .unwrap()
    }

    async fn access_token(&self, as_url: &str) -> String {
        let code = self.code(as_url).await;
        let body: Value = self.redeem_basic(as_url, &code).await.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn verify(&self, api: &str, token: &str) -> reqwest::Response {
        self.http
            .post(format!("{api}/number-verification/v2/verify"))
            .bearer_auth(token)
            .json(&serde_json::json!({"phoneNumber": LOOPBACK_NUMBER}))
            .send()
            .await
            .unwrap()
    }
}

/// Generates `one_redis::<flow>` and `redis_cluster::<flow>` for every flow (with the tokio
/// runtime options in brackets, if any).
macro_rules! on_both_stores {
    ($($([$($runtime:tt)*])? $flow:ident),* $(,)?) => {
        mod one_redis {
            $(
                #[tokio::test$(($($runtime)*))?]
                async fn $flow() {
                    let Some(r) = super::replicas(false).await else { return };
                    super::$flow(r).await;
                }
            )*
        }
        mod redis_cluster {
            $(
                #[tokio::test$(($($runtime)*))?]
                async fn $flow() {
                    let Some(r) = super::replicas(true).await else { return };
                    super::$flow(r).await;
                }
            )*
        }
    };
}

on_both_stores!(
    a_code_minted_on_one_replica_is_redeemed_on_the_other_exactly_once,
    hundreds_of_concurrent_redemptions_across_replicas_give_exactly_one_token,
    a_client_assertion_replayed_to_the_other_replica_is_refused,
    an_access_token_used_on_one_resource_server_is_refused_on_the_other,
    a_redis_outage_gives_clean_errors_and_service_resumes_without_restarting_anything,
    [flavor = "multi_thread", worker_threads = 2] concurrent_session_updates_on_two_replicas_are_all_kept,
    [flavor = "multi_thread", worker_threads = 2] a_replayed_code_revokes_its_access_token_at_the_resource_server,
    [flavor = "multi_thread", worker_threads = 2] an_operator_token_and_its_ciba_request_each_work_once_across_replicas,
);

async fn json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn a_code_minted_on_one_replica_is_redeemed_on_the_other_exactly_once(r: Replicas) {
    let code = r.code(&r.a.as_url).await;
    let (status, body) = json(r.redeem_basic(&r.b.as_url, &code).await).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = json(r.redeem_basic(&r.a.as_url, &code).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = json(r.redeem_basic(&r.b.as_url, &code).await).await;
    assert_eq!(status, 400);
}

async fn hundreds_of_concurrent_redemptions_across_replicas_give_exactly_one_token(r: Replicas) {
    let r = Arc::new(r);
    let code = r.code(&r.a.as_url).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let r = r.clone();
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            let url = if i % 2 == 0 {
                r.a.as_url.clone()
            } else {
                r.b.as_url.clone()
            };
            r.redeem_basic(&url, &code).await.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        199,
        "{statuses:?}"
    );
}

async fn a_client_assertion_replayed_to_the_other_replica_is_refused(r: Replicas) {
    let assertion = r.assertion();
    let code = r.code(&r.a.as_url).await;
    assert_eq!(
        r.redeem_jwt(&r.a.as_url, &code, &assertion).await.status(),
        200
    );
    let code = r.code(&r.b.as_url).await;
    let (status, body) = json(r.redeem_jwt(&r.b.as_url, &code, &assertion).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    assert!(body["error_description"].as_str().unwrap().contains("jti"));
}

async fn an_access_token_used_on_one_resource_server_is_refused_on_the_other(r: Replicas) {
    let token = r.access_token(&r.a.as_url).await;
    let (status, body) = json(r.verify(&r.a.api, &token).await).await;
    assert_eq!(
        (status, &body["devicePhoneNumberVerified"]),
        (200, &Value::Bool(true))
    );
    let (status, body) = json(r.verify(&r.b.api, &token).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("UNAUTHENTICATED")),
        "{body}"
    );
}

/// Time a request and check it stayed within the bound the store timeouts promise.
async fn bounded<F: std::future::Future<Output = reqwest::Response>>(f: F) -> (u16, Value) {
    let started = Instant::now();
    let resp = f.await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    json(resp).await
}

async fn a_redis_outage_gives_clean_errors_and_service_resumes_without_restarting_anything(
    mut r: Replicas,
) {
    let token_before = r.access_token(&r.a.as_url).await;
    let code_before = r.code(&r.a.as_url).await;

    r.redis.stop();

    // /authorize: redirected temporarily_unavailable, with the state.
    let started = Instant::now();
    let pairs = r.authorize(&r.b.as_url).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    let get = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(get("error"), Some("temporarily_unavailable"), "{pairs:?}");
    assert_eq!(get("state"), Some("s"));
    assert!(get("code").is_none());
    // /token: 503 in OAuth JSON, never a token.
    let resp = r.redeem_basic(&r.a.as_url, &code_before).await;
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let (status, body) = bounded(async { resp }).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );
    // The API: 503 UNAVAILABLE, never an accepted (possibly replayed) token.
    let (status, body) = bounded(r.verify(&r.b.api, &token_before)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("UNAVAILABLE")),
        "{body}"
    );
    // Readiness reports the store; liveness does not.
    for base in [&r.a.as_url, &r.b.as_url, &r.a.api, &r.b.api] {
        assert_eq!(
            r.http
                .get(format!("{base}/readyz"))
                .send()
                .await
                .unwrap()
                .status(),
            503,
            "{base}"
        );
        assert_eq!(
            r.http
                .get(format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{base}"
        );
    }

    r.redis.start_again();

    // Service resumes by itself (the store reconnects); nothing was restarted.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut ready = true;
        for base in [&r.a.as_url, &r.b.as_url, &r.a.api, &r.b.api] {
            ready &= r
                .http
                .get(format!("{base}/readyz"))
                .send()
                .await
                .unwrap()
                .status()
                == 200;
        }
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "the servers did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = r.access_token(&r.b.as_url).await;
    let (status, body) = json(r.verify(&r.a.api, &token).await).await;
    assert_eq!(
        (status, &body["devicePhoneNumberVerified"]),
        (200, &Value::Bool(true)),
        "{body}"
    );
    let (status, _) = json(r.verify(&r.b.api, &token).await).await;
    assert_eq!(status, 401, "single use still holds after the recovery");
}

/// Leases of one address posted concurrently to both replicas: every one is stored, and a block
/// reassigned on one replica is seen reassigned on the other (no lost update, CWE-362).
async fn concurrent_session_updates_on_two_replicas_are_all_kept(r: Replicas) {
    const LEASES: usize = 49;
    let post = |as_url: String, body: Value| {
        let http = r.http.clone();
        async move {
            http.post(format!("{as_url}/admin/sessions"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let block = |i: usize| format!("{}-{}", 1024 + i * 64, 1024 + i * 64 + 63);
    let mut posts = Vec::new();
    for i in 0..LEASES {
        let url = if i % 2 == 0 { &r.a.as_url } else { &r.b.as_url };
        let number = format!("+9905555{i:04}");
        posts.push(tokio::spawn(post(
            url.clone(),
            serde_json::json!({"network": "203.0.113.50", "ports": block(i), "msisdn": number}),
        )));
    }
    for p in posts {
        assert_eq!(p.await.unwrap(), 201);
    }
    // Reassign block 0 on replica b while block 1 is renewed on replica a.
    let (x, y) = tokio::join!(
        post(
            r.b.as_url.clone(),
            serde_json::json!({"network": "203.0.113.50", "ports": block(0), "msisdn": "+99055559999"})
        ),
        post(
            r.a.as_url.clone(),
            serde_json::json!({"network": "203.0.113.50", "ports": block(1), "msisdn": "+99055550001"})
        ),
    );
    assert_eq!(
        (x, y),
        (reqwest::StatusCode::CREATED, reqwest::StatusCode::CREATED)
    );
    for as_url in [&r.a.as_url, &r.b.as_url] {
        let list: Value = r
            .http
            .get(format!("{as_url}/admin/sessions"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let sessions = list["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), LEASES, "{list}");
        let holder_of_block_0: Vec<&Value> = sessions
            .iter()
            .filter(|s| s["ports"] == block(0).as_str())
            .map(|s| &s["msisdn"])
            .collect();
        assert_eq!(holder_of_block_0, ["+99055559999"]);
    }
}

/// RFC 6749 §4.1.2: a code replayed (here to the other replica) revokes the access token its
/// first redemption issued, and the resource servers, which share the store, refuse it.
async fn a_replayed_code_revokes_its_access_token_at_the_resource_server(r: Replicas) {
    let code = r.code(&r.a.as_url).await;
    let body: Value = r
        .redeem_basic(&r.a.as_url, &code)
        .await
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (status, _) = json(r.redeem_basic(&r.b.as_url, &code).await).await;
    assert_eq!(status, 400);
    let (status, body) = json(r.verify(&r.b.api, &token).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("UNAUTHENTICATED")),
        "{body}"
    );
}

/// An operator token from one replica spent through the other; its CIBA request polled by many
/// tasks on both replicas at once: exactly one gets the tokens.
async fn an_operator_token_and_its_ciba_request_each_work_once_across_replicas(r: Replicas) {
    let r = Arc::new(r);
    let issued: Value = r
        .http
        .post(format!("{}/admin/operator-tokens", r.a.as_url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"msisdn": LOOPBACK_NUMBER, "client_id": "demo-app"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hint = format!(
        "operatortoken:{}",
        issued["operator_token"].as_str().unwrap()
    );
    let bc_authorize = |url: String| {
        let (r, hint) = (r.clone(), hint.clone());
        async move {
            json(
                r.http
                    .post(format!("{url}/bc-authorize"))
                    .basic_auth("demo-app", Some("demo-secret"))
                    .form(&[("scope", SCOPE), ("login_hint", &hint)])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (status, accepted) = bc_authorize(r.b.as_url.clone()).await;
    assert_eq!(status, 200, "{accepted}");
    let (status, again) = bc_authorize(r.a.as_url.clone()).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("unknown_user_id"))
    );
    let auth_req_id = accepted["auth_req_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(accepted["interval"].as_u64().unwrap())).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (r, id) = (r.clone(), auth_req_id.clone());
        tasks.push(tokio::spawn(async move {
            let url = if i % 2 == 0 { &r.a.as_url } else { &r.b.as_url };
            r.http
                .post(format!("{url}/token"))
                .basic_auth("demo-app", Some("demo-secret"))
                .form(&[
                    ("grant_type", "urn:openid:params:grant-type:ciba"),
                    ("auth_req_id", id.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
}
