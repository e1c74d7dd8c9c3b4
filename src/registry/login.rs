//! `login` and `logout`: credentials are checked against the registry's own
//! challenge (Basic: `GET /v2/` with them; Bearer: the token realm with them,
//! as the docker CLI does) before they are saved to the Docker config file.

use super::credentials::{self, Credentials};
use super::transport::{error_chain, Endpoint};
use super::{block_on, RegistryError, RegistryOptions};
use std::path::PathBuf;

/// Checks `creds` against `registry` (host[:port], or docker.io) and saves
/// them in the Docker config file; returns the file's path.
pub fn login(
    registry: &str,
    creds: &Credentials,
    opts: &RegistryOptions,
) -> Result<PathBuf, RegistryError> {
    let registry = normalize_registry(registry);
    block_on(check_login(&registry, creds, opts))??;
    Ok(credentials::store(&registry, creds)?)
}

/// Removes saved credentials for `registry`; false if there were none.
pub fn logout(registry: &str) -> Result<bool, RegistryError> {
    Ok(credentials::erase(&normalize_registry(registry))?)
}

/// `https://index.docker.io/v1/` and friends -> `docker.io`; strips schemes and paths.
pub fn normalize_registry(registry: &str) -> String {
    let r = registry
        .strip_prefix("https://")
        .or_else(|| registry.strip_prefix("http://"))
        .unwrap_or(registry);
    let host = r.split('/').next().unwrap_or(r);
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

async fn check_login(
    registry: &str,
    creds: &Credentials,
    opts: &RegistryOptions,
) -> Result<(), RegistryError> {
    let ep = Endpoint::resolve(registry, opts).await?;
    let http = ep.http_client()?;
    let url = format!("{}/v2/", ep.base_url());
    let transport = |e: reqwest::Error| RegistryError::Unavailable {
        registry: registry.to_string(),
        message: error_chain(&e),
    };
    let denied = |detail: &str| RegistryError::Unauthorized {
        registry: registry.to_string(),
        detail: format!(" ({detail})"),
    };
    let res = http.get(&url).send().await.map_err(transport)?;
    if res.status().is_success() {
        return Ok(());
    }
    let challenge = res
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (kind, params) = parse_challenge(&challenge);
    let res = if kind.eq_ignore_ascii_case("bearer") {
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| denied("Bearer challenge without a realm"))?;
        let mut q: Vec<(String, String)> = vec![("account".into(), creds.username.clone())];
        if let Some((_, s)) = params.iter().find(|(k, _)| k == "service") {
            q.push(("service".into(), s.clone()));
        }
        http.get(&realm)
            .query(&q)
            .basic_auth(&creds.username, Some(&creds.secret))
            .send()
            .await
            .map_err(transport)?
    } else {
        http.get(&url)
            .basic_auth(&creds.username, Some(&creds.secret))
            .send()
            .await
            .map_err(transport)?
    };
    if res.status().is_success() {
        Ok(())
    } else {
        Err(denied(&format!("login rejected: HTTP {}", res.status())))
    }
}

/// `Bearer realm="r",service="s"` -> ("Bearer", [(realm, r), (service, s)]).
pub(crate) fn parse_challenge(h: &str) -> (String, Vec<(String, String)>) {
    let h = h.trim();
    let (kind, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = Vec::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some((k, after)) = s.split_once('=') else {
            break;
        };
        let key = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            }
        };
        params.push((key, value));
        s = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    (kind.to_string(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parsing() {
        let (k, p) = parse_challenge(
            r#"Bearer realm="https://a/token",service="reg",scope="x:y:pull,push""#,
        );
        assert_eq!(k, "Bearer");
        assert_eq!(p[0], ("realm".into(), "https://a/token".into()));
        assert_eq!(p[1], ("service".into(), "reg".into()));
        assert_eq!(p[2], ("scope".into(), "x:y:pull,push".into()));
    }

    #[test]
    fn registry_names() {
        assert_eq!(
            normalize_registry("https://index.docker.io/v1/"),
            "docker.io"
        );
        assert_eq!(normalize_registry("localhost:5000"), "localhost:5000");
    }
}
