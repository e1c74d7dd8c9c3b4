//! One connection to one registry: endpoint (Docker Hub's real host for
//! docker.io), HTTPS vs plain HTTP (plain only for registries named insecure,
//! after HTTPS failed), trust roots, credentials, and the mapping of
//! oci-client errors to [`RegistryError`]s that say what to do. Retries live
//! here too: connection errors and 5xx are retried with backoff.
//!
//! TLS is rustls with the platform verifier: a self-signed certificate that
//! is itself a CA (what `openssl req -x509` makes by default) is refused as
//! a server certificate, unlike Go clients; such registries need a real CA
//! plus server certificate, or to be named insecure (127.0.0.1 and
//! localhost are by default). Client certificates (certs.d/*.cert) are not
//! supported.

use super::credentials;
use super::{RegistryError, RegistryOptions};
use crate::image::Reference;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::RegistryOperation;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Docker Hub's API endpoint (docker.io is only the name).
const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";
const DEFAULT_INSECURE: &[&str] = &["localhost", "127.0.0.1", "::1", "[::1]"];

/// A configured client for one registry.
pub(crate) struct Remote {
    pub client: oci_client::Client,
    pub auth: RegistryAuth,
    /// The registry as named in references (`docker.io`, `host:5000`).
    pub registry: String,
    attempts: u32,
}

/// The host[:port] requests go to.
pub(crate) fn endpoint(domain: &str) -> &str {
    if domain == crate::image::reference::DEFAULT_DOMAIN {
        DOCKER_HUB_ENDPOINT
    } else {
        domain
    }
}

/// The registries treated as insecure when none are configured:
/// `$RBUILD_INSECURE_REGISTRIES` (comma separated; empty = none) if set,
/// else localhost, 127.0.0.1 and ::1 (as Docker).
pub fn default_insecure_registries() -> Vec<String> {
    match std::env::var("RBUILD_INSECURE_REGISTRIES") {
        Ok(v) => v
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        Err(_) => DEFAULT_INSECURE.iter().map(|s| s.to_string()).collect(),
    }
}

fn is_insecure(domain: &str, opts: &RegistryOptions) -> bool {
    if !opts.tls_verify {
        return true;
    }
    let host = match domain.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => domain,
    };
    let listed = |list: &[String]| list.iter().any(|e| e == domain || e == host);
    match &opts.insecure_registries {
        Some(list) => listed(list),
        None => listed(&default_insecure_registries()),
    }
}

/// PEM certificates from `--cert-dir` and the Docker/containers per-host dirs.
fn extra_roots(host: &str, opts: &RegistryOptions) -> Result<Vec<Certificate>, RegistryError> {
    let mut dirs: Vec<PathBuf> = opts.cert_dir.iter().cloned().collect();
    for base in ["/etc/docker/certs.d", "/etc/containers/certs.d"] {
        dirs.push(Path::new(base).join(host));
    }
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths
            .into_iter()
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        {
            let data = std::fs::read(&p).map_err(|e| RegistryError::io(&p, e))?;
            if reqwest::Certificate::from_pem(&data).is_err() {
                return Err(RegistryError::Invalid(format!(
                    "{}: not a PEM certificate",
                    p.display()
                )));
            }
            out.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
    }
    Ok(out)
}

/// Whether `https://host/v2/` answers at all (any HTTP status), without
/// verifying the certificate: used only to pick the scheme for insecure registries.
async fn https_answers(host: &str) -> bool {
    let Ok(c) = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
    else {
        return false;
    };
    c.get(format!("https://{host}/v2/")).send().await.is_ok()
}

/// Scheme, oci-client config and reqwest client settings for `domain`.
pub(crate) struct Endpoint {
    pub host: String,
    pub scheme: &'static str,
    pub insecure: bool,
    pub roots: Vec<Certificate>,
}

impl Endpoint {
    pub async fn resolve(domain: &str, opts: &RegistryOptions) -> Result<Endpoint, RegistryError> {
        let host = endpoint(domain).to_string();
        let insecure = is_insecure(domain, opts);
        let scheme = if insecure && !https_answers(&host).await {
            "http"
        } else {
            "https"
        };
        let roots = extra_roots(&host, opts)?;
        Ok(Endpoint {
            host,
            scheme,
            insecure,
            roots,
        })
    }

    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// A plain reqwest client with the same trust settings.
    pub fn http_client(&self) -> Result<reqwest::Client, RegistryError> {
        let roots: Vec<reqwest::Certificate> = self
            .roots
            .iter()
            .filter_map(|c| reqwest::Certificate::from_pem(&c.data).ok())
            .collect();
        reqwest::Client::builder()
            .danger_accept_invalid_certs(self.insecure)
            .tls_certs_merge(roots)
            .connect_timeout(Duration::from_secs(30))
            .user_agent(concat!("rbuild/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RegistryError::Transport {
                registry: self.host.clone(),
                message: error_chain(&e),
            })
    }
}

impl Remote {
    /// Connects to the registry of `reference` and authenticates for `op`
    /// (so wrong credentials fail here, with a clear message).
    pub async fn connect(
        reference: &Reference,
        opts: &RegistryOptions,
        op: RegistryOperation,
        chunked_push: bool,
    ) -> Result<Remote, RegistryError> {
        let domain = reference.domain().to_string();
        let ep = Endpoint::resolve(&domain, opts).await?;
        let config = ClientConfig {
            protocol: if ep.scheme == "http" {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            accept_invalid_certificates: ep.insecure,
            use_monolithic_push: !chunked_push,
            extra_root_certificates: ep.roots.clone(),
            platform_resolver: None,
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(120)),
            user_agent: concat!("rbuild/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let client =
            oci_client::Client::try_from(config).map_err(|e| RegistryError::Transport {
                registry: domain.clone(),
                message: format!("configuring the HTTP client: {}", error_chain(&e)),
            })?;
        let creds = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None => credentials::lookup(&domain)?,
        };
        let auth = match creds {
            Some(c) => RegistryAuth::Basic(c.username, c.secret),
            None => RegistryAuth::Anonymous,
        };
        let remote = Remote {
            client,
            auth,
            registry: domain,
            attempts: opts.attempts.max(1),
        };
        let oref = remote.oci_ref(reference);
        remote
            .retry(|| async {
                remote
                    .client
                    .auth(&oref, &remote.auth, op)
                    .await
                    .map_err(|e| remote.error(&reference.to_string(), e))
            })
            .await?;
        Ok(remote)
    }

    /// The oci-client form of `r`, pointed at the real endpoint.
    pub fn oci_ref(&self, r: &Reference) -> oci_client::Reference {
        let registry = r.domain().to_string();
        let repo = r.path().to_string();
        let mut o = match (r.tag(), r.digest()) {
            (Some(t), Some(d)) => oci_client::Reference::with_tag_and_digest(
                registry,
                repo,
                t.to_string(),
                d.to_string(),
            ),
            (None, Some(d)) => oci_client::Reference::with_digest(registry, repo, d.to_string()),
            (t, None) => {
                oci_client::Reference::with_tag(registry, repo, t.unwrap_or("latest").to_string())
            }
        };
        if endpoint(r.domain()) != r.domain() {
            o.set_mirror_registry(endpoint(r.domain()).to_string());
        }
        o
    }

    /// Maps an oci-client error about `what` to a [`RegistryError`].
    pub fn error(&self, what: &str, e: OciDistributionError) -> RegistryError {
        let registry = self.registry.clone();
        let unauthorized = |detail: String| RegistryError::Unauthorized {
            registry: registry.clone(),
            detail,
        };
        let not_found = |detail: String| RegistryError::NotFound {
            reference: what.to_string(),
            detail,
        };
        match e {
            OciDistributionError::UnauthorizedError { .. } => unauthorized(String::new()),
            OciDistributionError::AuthenticationFailure(msg) => {
                unauthorized(format!(" (token service: {})", first_line(&msg)))
            }
            OciDistributionError::ImageManifestNotFoundError(m) => not_found(m),
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<String> = envelope
                    .errors
                    .iter()
                    .map(|e| format!("{:?}", e.code))
                    .collect();
                let msg: Vec<String> = envelope.errors.iter().map(|e| e.message.clone()).collect();
                let detail = msg.join("; ");
                let joined = codes.join(",").to_ascii_uppercase();
                if joined.contains("UNAUTHORIZED") || joined.contains("DENIED") {
                    unauthorized(format!(" ({detail})"))
                } else if joined.contains("UNKNOWN") {
                    not_found(detail)
                } else {
                    RegistryError::Transport {
                        registry,
                        message: format!("{what}: {detail}"),
                    }
                }
            }
            OciDistributionError::ServerError { code, message, .. } => match code {
                401 | 403 => unauthorized(format!(" (HTTP {code})")),
                404 => not_found(format!("HTTP 404 {}", first_line(&message))),
                c if c >= 500 => RegistryError::Unavailable {
                    registry,
                    message: format!("{what}: HTTP {c} {}", first_line(&message)),
                },
                c => RegistryError::Transport {
                    registry,
                    message: format!("{what}: HTTP {c} {}", first_line(&message)),
                },
            },
            OciDistributionError::RequestError(re) => {
                let message = format!("{what}: {}", error_chain(&re));
                if let Some(status) = re.status() {
                    return self.error(
                        what,
                        OciDistributionError::ServerError {
                            code: status.as_u16(),
                            url: String::new(),
                            message: String::new(),
                        },
                    );
                }
                if message.contains("certificate") {
                    RegistryError::Transport {
                        registry,
                        message: format!("{message}: TLS verification failed; give the registry's CA with --cert-dir DIR (or /etc/containers/certs.d/HOST/ca.crt), or use --tls-verify=false"),
                    }
                } else if re.is_connect() || re.is_timeout() || re.is_request() || re.is_body() {
                    RegistryError::Unavailable { registry, message }
                } else {
                    RegistryError::Transport { registry, message }
                }
            }
            OciDistributionError::IoError(ioe) => RegistryError::Unavailable {
                registry,
                message: format!("{what}: {ioe}"),
            },
            OciDistributionError::DigestError(de) => RegistryError::DigestMismatch {
                what: what.to_string(),
                expected: String::new(),
                actual: de.to_string(),
            },
            other => RegistryError::Transport {
                registry,
                message: format!("{what}: {other}"),
            },
        }
    }

    /// Runs `f` up to `attempts` times while it fails with a transient error
    /// (connection trouble, 5xx), waiting 0.5 s, 1 s, 2 s, ... in between.
    pub async fn retry<T, F, Fut>(&self, mut f: F) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, RegistryError>>,
    {
        let mut delay = Duration::from_millis(500);
        let mut attempt = 1;
        loop {
            match f().await {
                Err(e) if e.is_transient() && attempt < self.attempts => {
                    log::warn!("{e}; retrying in {delay:?} (attempt {attempt})");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

impl RegistryError {
    /// Connection errors and server errors, which a retry may fix.
    pub fn is_transient(&self) -> bool {
        matches!(self, RegistryError::Unavailable { .. })
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}

/// An error and its sources on one line ("error sending request: connection refused").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_defaults_and_endpoints() {
        let o = RegistryOptions {
            insecure_registries: Some(vec!["localhost".into(), "127.0.0.1".into()]),
            ..RegistryOptions::default()
        };
        assert!(is_insecure("127.0.0.1:5000", &o));
        assert!(!is_insecure("quay.io", &o));
        assert_eq!(endpoint("docker.io"), DOCKER_HUB_ENDPOINT);
    }
}
