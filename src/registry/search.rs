//! `search`: Docker Hub's search API for plain terms (as `docker search`),
//! and for `HOST[:PORT]/TERM` the registry's `/v2/_catalog` listing filtered
//! by TERM (substring), since the distribution spec has no search.

use super::transport::{error_chain, Endpoint, Remote};
use super::{block_on, RegistryError, RegistryOptions};
use crate::image::Reference;
use oci_client::RegistryOperation;
use serde_json::Value;

const DOCKER_HUB_SEARCH: &str = "https://index.docker.io/v1/search";

/// One search hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchResult {
    pub name: String,
    pub description: String,
    pub stars: u64,
    pub official: bool,
}

/// Searches for `term` (`busybox`, or `localhost:5000/app`); at most `limit` results.
pub fn search(
    term: &str,
    limit: usize,
    opts: &RegistryOptions,
) -> Result<Vec<SearchResult>, RegistryError> {
    let (registry, filter) = match term.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (Some(first.to_string()), rest.to_string())
        }
        _ => (None, term.to_string()),
    };
    match registry {
        None => block_on(search_hub(&filter, limit, opts))?,
        Some(r) => block_on(search_catalog(&r, &filter, limit, opts))?,
    }
}

async fn search_hub(
    term: &str,
    limit: usize,
    opts: &RegistryOptions,
) -> Result<Vec<SearchResult>, RegistryError> {
    let ep = Endpoint::resolve("docker.io", opts).await?;
    let http = ep.http_client()?;
    let unavailable = |message: String| RegistryError::Unavailable {
        registry: "docker.io".into(),
        message,
    };
    let res = http
        .get(DOCKER_HUB_SEARCH)
        .query(&[("q", term), ("n", &limit.to_string())])
        .send()
        .await
        .map_err(|e| unavailable(error_chain(&e)))?;
    if !res.status().is_success() {
        return Err(unavailable(format!("search: HTTP {}", res.status())));
    }
    let body: Value = res
        .json()
        .await
        .map_err(|e| unavailable(format!("search: invalid answer: {e}")))?;
    let results = body
        .get("results")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(results
        .iter()
        .take(limit)
        .map(|r| SearchResult {
            name: r.get("name").and_then(Value::as_str).unwrap_or("").into(),
            description: r
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
            stars: r.get("star_count").and_then(Value::as_u64).unwrap_or(0),
            official: r
                .get("is_official")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
        .collect())
}

async fn search_catalog(
    registry: &str,
    term: &str,
    limit: usize,
    opts: &RegistryOptions,
) -> Result<Vec<SearchResult>, RegistryError> {
    // A placeholder repository: the catalog is registry-wide, but oci-client
    // authenticates per reference.
    let probe = Reference::parse(&format!("{registry}/catalog"))?;
    let remote = Remote::connect(&probe, opts, RegistryOperation::Pull, false).await?;
    let oref = remote.oci_ref(&probe);
    let mut out = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let page = remote
            .retry(|| async {
                remote
                    .client
                    .catalog(&oref, &remote.auth, Some(1000), last.as_deref())
                    .await
                    .map_err(|e| remote.error(&format!("{registry}/v2/_catalog"), e))
            })
            .await?;
        let n = page.repositories.len();
        for repo in page.repositories {
            if repo.contains(term) && out.len() < limit {
                out.push(SearchResult {
                    name: format!("{registry}/{repo}"),
                    description: String::new(),
                    stars: 0,
                    official: false,
                });
            }
            last = Some(repo);
        }
        if n < 1000 || out.len() >= limit {
            break;
        }
    }
    Ok(out)
}
