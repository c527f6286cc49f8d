//! `/admin/cgnat-blocks`: CGNAT port blocks in bulk, for a NAT that cannot export IPFIX or a
//! back-fill from its logs. Same admin token and strict JSON as `/admin/sessions`; a body is
//! validated whole before anything is written, so a bad entry writes nothing.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::{web, HttpRequest, HttpResponse};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::admin::{authorize, json_body};
use crate::config::PortRange;
use crate::error::OAuthError;
use crate::network::cgnat::{self, Allocated, Allocation};
use crate::network::sessions::subscriber_network;
use crate::state::AppState;

/// Entries one request may carry.
const MAX_BLOCKS: usize = 10_000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/cgnat-blocks")
            .route(web::get().to(list_blocks))
            .route(web::post().to(apply_blocks)),
    );
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Event {
    Allocation,
    Deallocation,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockEntry {
    public: String,
    ports: String,
    private: String,
    #[serde(default = "allocation")]
    event: Event,
    valid_for_seconds: Option<i64>,
}

fn allocation() -> Event {
    Event::Allocation
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Bulk {
    blocks: Vec<BlockEntry>,
}

#[derive(Serialize)]
struct BlockView {
    public: Ipv4Addr,
    ports: String,
    private: IpAddr,
    since: i64,
    valid_until: i64,
}

struct Checked {
    public: Ipv4Addr,
    ports: PortRange,
    private: IpAddr,
    event: Event,
    valid_for: i64,
}

fn check(i: usize, e: &BlockEntry, state: &AppState) -> Result<Checked, OAuthError> {
    let bad = |what: String| OAuthError::invalid_request(format!("blocks[{i}]: {what}"));
    let public: Ipv4Addr = e
        .public
        .parse()
        .map_err(|_| bad("public must be an IPv4 address (CGNAT is IPv4)".into()))?;
    let ports: PortRange = e.ports.parse().map_err(bad)?;
    let private: IpAddr = e
        .private
        .parse()
        .map_err(|_| bad("private must be an IP address".into()))?;
    // The private address is looked up in the sessions; one they would never hold (a trusted
    // proxy's, CWE-348) cannot stand behind a block either.
    subscriber_network(IpNet::from(private), state.identity.trusted_proxies())
        .map_err(|err| bad(err.to_string()))?;
    let max = state.cgnat_allocation_timeout_seconds;
    let valid_for = e.valid_for_seconds.unwrap_or(max);
    if !(1..=max).contains(&valid_for) {
        return Err(bad(format!("valid_for_seconds must be 1..={max}")));
    }
    if e.event == Event::Deallocation && e.valid_for_seconds.is_some() {
        return Err(bad("a deallocation has no valid_for_seconds".into()));
    }
    Ok(Checked {
        public,
        ports,
        private,
        event: e.event,
        valid_for,
    })
}

async fn apply_blocks(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    authorize(&req, &state)?;
    let bulk: Bulk = json_body(&req, payload, state.max_body_bytes).await?;
    if bulk.blocks.is_empty() || bulk.blocks.len() > MAX_BLOCKS {
        return Err(OAuthError::invalid_request(format!(
            "blocks must hold 1..={MAX_BLOCKS} entries"
        )));
    }
    let checked = bulk
        .blocks
        .iter()
        .enumerate()
        .map(|(i, e)| check(i, e, &state))
        .collect::<Result<Vec<_>, _>>()?;
    let now = state.now();
    let (mut stored, mut released, mut unchanged) = (0u64, 0u64, 0u64);
    for c in checked {
        let applied = match c.event {
            Event::Allocation => {
                let allocation = Allocation {
                    private: c.private,
                    since: now,
                    valid_until: now + c.valid_for,
                };
                cgnat::allocate(&*state.store, c.public, c.ports, allocation, now)
                    .await
                    .map(|a| a == Allocated::Stored)
            }
            Event::Deallocation => {
                cgnat::deallocate(&*state.store, c.public, c.ports, c.private, now).await
            }
        }
        .map_err(OAuthError::unavailable)?;
        match (applied, c.event) {
            (true, Event::Allocation) => stored += 1,
            (true, Event::Deallocation) => released += 1,
            (false, _) => unchanged += 1,
        }
    }
    tracing::info!(
        cgnat.stored = stored,
        cgnat.released = released,
        cgnat.unchanged = unchanged,
        "CGNAT blocks applied"
    );
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({"stored": stored, "released": released, "unchanged": unchanged})))
}

async fn list_blocks(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    authorize(&req, &state)?;
    let out: Vec<BlockView> = cgnat::list(&*state.store, state.now())
        .await
        .map_err(OAuthError::unavailable)?
        .into_iter()
        .map(|b| BlockView {
            public: b.public,
            ports: b.ports.to_string(),
            private: b.allocation.private,
            since: b.allocation.since,
            valid_until: b.allocation.valid_until,
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "blocks": out })))
}
