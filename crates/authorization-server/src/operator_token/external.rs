//! An operator's entitlement server over HTTP, behind the minimal contract of `docs/api.md`
//! ("Operator tokens (TS.43) — external entitlement contract"):
//!
//! `POST {url}` with `{"operator_token": "…", "client_id": "…"}` and the configured credentials
//! → `200 {"msisdn": "+…", "client_id": "…"}` (the subscriber and the client the token was issued
//! for; the server spends the token), `404` or `410` (unknown, expired or spent); anything else —
//! another status, a redirect, a timeout, a body over [`MAX_BODY_BYTES`], a body that is not
//! that JSON — is [`Refusal::Unavailable`], which the grant answers `temporarily_unavailable`:
//! an entitlement server that cannot be understood never identifies anyone.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use nv_store::Store;
use nv_token::{Amr, PhoneNumber};
use serde::{Deserialize, Serialize};

use super::{Credentials, OperatorToken, OperatorTokenResolver, ProvenSubscriber, Refusal};

/// Largest answer read: the contract's answer is two short strings, and an endless body from a
/// broken or hostile server must not be buffered.
pub const MAX_BODY_BYTES: usize = 4096;

#[derive(Serialize)]
struct Request<'a> {
    operator_token: &'a str,
    client_id: &'a str,
}

#[derive(Deserialize)]
struct Answer {
    msisdn: PhoneNumber,
    client_id: String,
}

/// The external entitlement backend.
pub struct ExternalEntitlement {
    http: reqwest::Client,
    url: url::Url,
    credentials: Credentials,
    /// Where presented tokens are remembered: single use here too, whatever the entitlement
    /// server does with a token it is asked about twice.
    store: Arc<dyn Store>,
}

impl ExternalEntitlement {
    /// `url` and `timeout` as validated by [`super::OperatorTokenSettings::validate`]. Redirects
    /// are not followed: the credentials and the token go to the configured URL only.
    pub fn new(
        url: url::Url,
        credentials: Credentials,
        timeout: Duration,
        store: Arc<dyn Store>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            url,
            credentials,
            store,
        })
    }

    async fn exchange(
        &self,
        token: &OperatorToken,
        client_id: &str,
    ) -> Result<ProvenSubscriber, Refusal> {
        // reqwest's messages name the URL (never the body); `without_url` keeps it out of logs.
        let unavailable = Refusal::Unavailable;
        let request = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&Request {
                operator_token: token.expose(),
                client_id,
            });
        let mut response = self
            .credentials
            .apply(request)
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        match response.status() {
            reqwest::StatusCode::OK => {}
            reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::GONE => {
                return Err(Refusal::Unknown)
            }
            other => return Err(unavailable(format!("HTTP {other}"))),
        }
        let body = server_kit::remote::read_capped(&mut response, MAX_BODY_BYTES)
            .await
            .map_err(|e| unavailable(format!("the answer: {e}")))?;
        // serde's message could quote the body (a number): only say that it did not parse.
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|_| unavailable("the answer is not the contract's JSON".into()))?;
        if answer.client_id != client_id {
            return Err(Refusal::ForeignClient);
        }
        Ok(ProvenSubscriber {
            phone_number: answer.msisdn,
            client_id: answer.client_id,
            // The operator's entitlement server authenticated the SIM (TS.43, EAP-AKA).
            amr: Amr::Sim,
        })
    }
}

#[async_trait]
impl OperatorTokenResolver for ExternalEntitlement {
    async fn resolve(
        &self,
        token: &OperatorToken,
        client_id: &str,
    ) -> Result<ProvenSubscriber, Refusal> {
        // Spent here before the entitlement server is asked: a second presentation is refused
        // on every replica even if that server would answer 200 twice.
        let first = self
            .store
            .put_if_absent(
                &seen_key(token),
                b"1",
                Duration::from_secs(super::MAX_TTL_SECONDS),
            )
            .await
            .map_err(|e| Refusal::Unavailable(format!("the store failed: {e}")))?;
        if !first {
            return Err(Refusal::Unknown);
        }
        self.exchange(token, client_id).await
    }
}

/// The mark of a presented token: its hash, so a store dump yields no usable token.
fn seen_key(token: &OperatorToken) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "operator-token-seen:{}",
        hex::encode(Sha256::digest(token.expose().as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{web, HttpRequest, HttpResponse};
    use secrecy::SecretString;

    const CLIENT: &str = "demo-app";
    const BEARER: &str = "entitlement-credential";

    /// The test entitlement server: each path plays one behaviour; `/ok` checks the contract's
    /// request (credentials, JSON body) and answers for `tok-1` only.
    async fn handle(req: HttpRequest, body: web::Bytes) -> HttpResponse {
        let authorized = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == format!("Bearer {BEARER}") || v.starts_with("Basic "));
        if !authorized {
            return HttpResponse::Unauthorized().finish();
        }
        let request: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return HttpResponse::BadRequest().finish(),
        };
        let answer = |client: &str| {
            HttpResponse::Ok()
                .json(serde_json::json!({"msisdn": "+99012345678", "client_id": client}))
        };
        match req.path() {
            "/ok" if request["operator_token"] == "tok-1" => {
                answer(request["client_id"].as_str().unwrap_or_default())
            }
            "/ok" => HttpResponse::NotFound().finish(),
            "/gone" => HttpResponse::Gone().finish(),
            "/foreign" => answer("other-app"),
            "/slow" => {
                actix_web::rt::time::sleep(Duration::from_secs(5)).await;
                answer(CLIENT)
            }
            "/big" => HttpResponse::Ok()
                .content_type("application/json")
                .body(format!(
                    r#"{{"msisdn":"+99012345678","client_id":"{CLIENT}","pad":"{}"}}"#,
                    "x".repeat(MAX_BODY_BYTES)
                )),
            "/streamed-big" => {
                let chunk = web::Bytes::from(vec![b' '; 1024]);
                let chunks = (0..16).map(move |_| Ok::<_, actix_web::Error>(chunk.clone()));
                HttpResponse::Ok()
                    .content_type("application/json")
                    .streaming(futures_util::stream::iter(chunks))
            }
            "/text" => HttpResponse::Ok().body("msisdn=+99012345678"),
            "/bad-number" => HttpResponse::Ok()
                .json(serde_json::json!({"msisdn": "99012345678", "client_id": CLIENT})),
            "/redirect" => HttpResponse::Found()
                .insert_header(("location", "/ok"))
                .finish(),
            _ => HttpResponse::InternalServerError().finish(),
        }
    }

    /// Starts the test server on port 0; its base URL.
    fn start_server() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server =
            actix_web::HttpServer::new(|| actix_web::App::new().default_service(web::to(handle)))
                .workers(1)
                .listen(listener)
                .unwrap()
                .run();
        actix_web::rt::spawn(server);
        format!("http://127.0.0.1:{port}")
    }

    fn backend(base: &str, path: &str, credentials: Credentials) -> ExternalEntitlement {
        let url = format!("{base}{path}").parse().unwrap();
        let store = Arc::new(nv_store::MemoryStore::new(Arc::new(nv_store::SystemClock)));
        ExternalEntitlement::new(url, credentials, Duration::from_millis(500), store).unwrap()
    }

    fn bearer() -> Credentials {
        Credentials::Bearer {
            token: SecretString::from(BEARER),
        }
    }

    async fn resolve(base: &str, path: &str) -> Result<ProvenSubscriber, Refusal> {
        let token: OperatorToken = "tok-1".parse().unwrap();
        backend(base, path, bearer()).resolve(&token, CLIENT).await
    }

    #[actix_web::test]
    async fn a_known_token_resolves_to_the_subscriber_and_client_the_server_names() {
        let base = start_server();
        let expected = Ok(ProvenSubscriber {
            phone_number: "+99012345678".parse().unwrap(),
            client_id: CLIENT.to_owned(),
            amr: Amr::Sim,
        });
        assert_eq!(resolve(&base, "/ok").await, expected);
        let basic = Credentials::Basic {
            username: "as".into(),
            password: SecretString::from("p4ss"),
        };
        let token: OperatorToken = "tok-1".parse().unwrap();
        assert_eq!(
            backend(&base, "/ok", basic).resolve(&token, CLIENT).await,
            expected
        );
    }

    #[actix_web::test]
    async fn a_token_presented_twice_is_unknown_even_if_the_server_answers_200_again() {
        let base = start_server();
        let backend = backend(&base, "/ok", bearer());
        let token: OperatorToken = "tok-1".parse().unwrap();
        assert!(backend.resolve(&token, CLIENT).await.is_ok());
        assert_eq!(backend.resolve(&token, CLIENT).await, Err(Refusal::Unknown));
    }

    #[actix_web::test]
    async fn unknown_and_spent_tokens_are_unknown() {
        let base = start_server();
        let token: OperatorToken = "tok-2".parse().unwrap();
        let backend = backend(&base, "/ok", bearer());
        assert_eq!(backend.resolve(&token, CLIENT).await, Err(Refusal::Unknown));
        assert_eq!(resolve(&base, "/gone").await, Err(Refusal::Unknown));
    }

    #[actix_web::test]
    async fn a_token_the_server_bound_to_another_client_is_foreign() {
        let base = start_server();
        assert_eq!(
            resolve(&base, "/foreign").await,
            Err(Refusal::ForeignClient)
        );
    }

    #[actix_web::test]
    async fn wrong_credentials_a_server_error_or_a_redirect_are_unavailable() {
        let base = start_server();
        let wrong = Credentials::Bearer {
            token: SecretString::from("wrong"),
        };
        let token: OperatorToken = "tok-1".parse().unwrap();
        let refused = backend(&base, "/ok", wrong).resolve(&token, CLIENT).await;
        assert_eq!(
            refused,
            Err(Refusal::Unavailable("HTTP 401 Unauthorized".into()))
        );
        for path in ["/fail", "/redirect"] {
            assert!(
                matches!(resolve(&base, path).await, Err(Refusal::Unavailable(_))),
                "{path}"
            );
        }
    }

    #[actix_web::test]
    async fn a_server_slower_than_the_timeout_is_unavailable() {
        let base = start_server();
        let started = std::time::Instant::now();
        let Err(Refusal::Unavailable(cause)) = resolve(&base, "/slow").await else {
            panic!("not unavailable")
        };
        assert!(started.elapsed() < Duration::from_secs(4), "{cause}");
        assert!(!cause.contains("127.0.0.1"), "{cause}");
    }

    #[actix_web::test]
    async fn an_answer_over_the_size_cap_is_unavailable() {
        let base = start_server();
        for path in ["/big", "/streamed-big"] {
            let Err(Refusal::Unavailable(cause)) = resolve(&base, path).await else {
                panic!("{path}: not unavailable")
            };
            assert!(cause.contains("exceeds"), "{path}: {cause}");
        }
    }

    #[actix_web::test]
    async fn an_answer_that_is_not_the_contract_json_is_unavailable_and_not_quoted() {
        let base = start_server();
        for path in ["/text", "/bad-number"] {
            let Err(Refusal::Unavailable(cause)) = resolve(&base, path).await else {
                panic!("{path}: not unavailable")
            };
            assert!(!cause.contains("99012345678"), "{path}: {cause}");
        }
    }

    #[actix_web::test]
    async fn an_unreachable_server_is_unavailable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        assert!(matches!(
            resolve(&base, "/ok").await,
            Err(Refusal::Unavailable(_))
        ));
    }
}
