//! Authentication against the real distribution 2.8 server: TLS with a
//! self-signed CA plus htpasswd Basic auth, and Bearer token auth (registry
//! configured with `auth: token`, trusting a test key; the token issuer runs
//! inside this test and signs RS256 JWTs with openssl). Covers login/logout
//! writing $DOCKER_CONFIG/config.json, a docker-credential-* helper, wrong
//! passwords, anonymous access refused, token caching, and that the password
//! never shows up in output or in the store.

mod registry_support;

use base64::Engine as _;
use registry_support::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const USER: &str = "alice";
const PASS: &str = "s3cret-Pw-4711";

fn login(rb: &mut Command, host: &str, pass: &str, extra: &[&str]) -> std::process::Output {
    let mut child = rb
        .args(["login", "-u", USER, "--password-stdin"])
        .args(extra)
        .arg(host)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{pass}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// No file under `dir` contains `needle`.
fn assert_not_in_tree(dir: &Path, needle: &str) {
    for e in walk(dir) {
        if let Ok(bytes) = std::fs::read(&e) {
            let hay = String::from_utf8_lossy(&bytes);
            assert!(
                !hay.contains(needle),
                "{} contains the password",
                e.display()
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn tls_basic_auth_login_push_pull_logout() {
    let test = "tls_basic_auth_login_push_pull_logout";
    if !need_tools(
        test,
        &["docker-registry", "openssl", "htpasswd", "busybox", "tar"],
    ) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let reg = Registry::start(
        &t.path().join("reg"),
        Auth::TlsBasic {
            user: USER.into(),
            pass: PASS.into(),
        },
    );
    let host = reg.host();
    let cfg = t.path().join("docker");
    let ca = reg.ca_dir();
    let ca = ca.to_str().unwrap();
    // Verify certificates for real: no registry is treated as insecure.
    let rb = |store: &str| {
        let mut c = rbuild(&t.path().join(store), &cfg);
        c.env("RBUILD_INSECURE_REGISTRIES", "");
        c
    };
    let tar = busybox_tar(t.path());
    run(rb("s1").arg("import").arg(&tar).arg("bb:1"));
    let image = format!("{host}/auth/bb:1");

    // Without the CA the self-signed certificate is refused.
    let err =
        run_fail(rb("s1").args(["push", "--creds", &format!("{USER}:{PASS}"), "bb:1", &image]));
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(!err.contains(PASS));

    // Anonymous: refused with a hint to log in.
    let err = run_fail(rb("s1").args(["push", "--cert-dir", ca, "bb:1", &image]));
    assert!(err.contains("rbuild login"), "{err}");

    // Wrong password: login fails and nothing is saved.
    let out = login(&mut rb("s1"), &host, "wrong-password", &["--cert-dir", ca]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("denied"), "{}", text(&out));
    assert!(
        !cfg.join("config.json").exists()
            || !std::fs::read_to_string(cfg.join("config.json"))
                .unwrap()
                .contains(&host)
    );

    // Right password: saved as Docker does, then push and pull use it.
    let out = login(&mut rb("s1"), &host, PASS, &["--cert-dir", ca]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Login Succeeded"));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cfg.join("config.json")).unwrap()).unwrap();
    let auth = saved["auths"][&host]["auth"].as_str().unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .unwrap();
    assert_eq!(decoded, format!("{USER}:{PASS}").as_bytes());

    let push = rb("s1")
        .args(["push", "--cert-dir", ca, "bb:1", &image])
        .output()
        .unwrap();
    assert!(push.status.success(), "{}", text(&push));
    assert!(!text(&push).contains(PASS));
    // With debug logging on, neither the password nor its base64 form shows.
    let pull = rb("s2")
        .args(["-D", "pull", "--cert-dir", ca, &image])
        .output()
        .unwrap();
    assert!(pull.status.success(), "{}", text(&pull));
    assert!(!text(&pull).contains(PASS));
    assert!(!text(&pull).contains(auth), "basic auth header leaked");
    assert_not_in_tree(&t.path().join("s1"), PASS);
    assert_not_in_tree(&t.path().join("s2"), PASS);
    // --tls-verify=false: no CA needed (verification off for this registry).
    run(rb("s2b").args(["pull", "-q", "--tls-verify=false", &image]));
    run(rb("s2c").args(["pull", "-q", "--insecure-registry", &host, &image]));

    // Logout removes the entry; pulling is refused again.
    run(rb("s3").args(["logout", &host]));
    let after = std::fs::read_to_string(cfg.join("config.json")).unwrap();
    assert!(!after.contains(&host), "{after}");
    let err = run_fail(rb("s3").args(["pull", "--cert-dir", ca, &image]));
    assert!(err.contains("authentication required or denied"), "{err}");

    // A docker-credential-* helper (a stateful fake, like `pass`/`secretservice`):
    // credsStore for login/get/logout, then credHelpers for one registry.
    let bin = t.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let vault = t.path().join("vault.json");
    let helper = bin.join("docker-credential-rbtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nV={}\ncase \"$1\" in\n  store) cat > \"$V\" ;;\n  get) cat >/dev/null; if [ -f \"$V\" ]; then cat \"$V\"; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n  erase) cat >/dev/null; rm -f \"$V\" ;;\n  *) exit 1 ;;\nesac\n",
            vault.display()
        ),
    )
    .unwrap();
    run(Command::new("chmod").arg("755").arg(&helper));
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let with_helper = |store: &str| {
        let mut c = rb(store);
        c.env("PATH", &path);
        c
    };
    std::fs::write(cfg.join("config.json"), r#"{"credsStore":"rbtest"}"#).unwrap();
    let out = login(&mut with_helper("s4"), &host, PASS, &["--cert-dir", ca]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::read_to_string(&vault).unwrap().contains(PASS));
    let conf = std::fs::read_to_string(cfg.join("config.json")).unwrap();
    assert!(!conf.contains(PASS) && !conf.contains(auth), "{conf}");
    run(with_helper("s4").args(["pull", "-q", "--cert-dir", ca, &image]));
    run(with_helper("s4").args(["logout", &host]));
    assert!(!vault.exists(), "logout erases through the helper");
    let err = run_fail(with_helper("s5").args(["pull", "--cert-dir", ca, &image]));
    assert!(err.contains("authentication required or denied"), "{err}");

    std::fs::write(
        &vault,
        format!(r#"{{"ServerURL":"{host}","Username":"{USER}","Secret":"{PASS}"}}"#),
    )
    .unwrap();
    std::fs::write(
        cfg.join("config.json"),
        format!(r#"{{"credHelpers":{{"{host}":"rbtest"}}}}"#),
    )
    .unwrap();
    run(with_helper("s6").args(["pull", "-q", "--cert-dir", ca, &image]));
}

/// A token issuer for distribution's `auth: token`: checks Basic
/// credentials, grants the requested repository scopes, signs RS256 JWTs
/// (x5c header = the certificate the registry trusts).
struct TokenServer {
    port: u16,
    requests: Arc<AtomicUsize>,
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl TokenServer {
    fn start(dir: &Path, service: &str, issuer: &str) -> (TokenServer, PathBuf) {
        let key = dir.join("token.key");
        let cert = dir.join("token.crt");
        run(Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256"])
            .args(["-days", "2", "-subj", "/CN=rbuild-token-issuer", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .unwrap()
            .stdout;
        let x5c = base64::engine::general_purpose::STANDARD.encode(&der);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let (req2, service, issuer, dir) = (
            requests.clone(),
            service.to_string(),
            issuer.to_string(),
            dir.to_path_buf(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                req2.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let target = line.split(' ').nth(1).unwrap_or("").to_string();
                let mut authorized = false;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h
                        .strip_prefix("Authorization: Basic ")
                        .or_else(|| h.strip_prefix("authorization: Basic "))
                    {
                        let dec = base64::engine::general_purpose::STANDARD
                            .decode(v.trim())
                            .unwrap_or_default();
                        authorized = dec == format!("{USER}:{PASS}").as_bytes();
                    }
                }
                let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
                let scopes: Vec<String> = query
                    .split('&')
                    .filter_map(|kv| kv.strip_prefix("scope="))
                    .map(percent_decode)
                    .collect();
                let (status, body) = if authorized {
                    let access: Vec<serde_json::Value> = scopes
                        .iter()
                        .filter_map(|s| {
                            let mut p = s.splitn(3, ':');
                            let (kind, name, actions) = (p.next()?, p.next()?, p.next()?);
                            Some(serde_json::json!({"type": kind, "name": name,
                                "actions": actions.split(',').collect::<Vec<_>>()}))
                        })
                        .collect();
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs();
                    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
                    let claims = serde_json::json!({"iss": issuer, "sub": USER, "aud": service,
                        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{port}"),
                        "access": access});
                    let signing_input = format!(
                        "{}.{}",
                        b64url(header.to_string().as_bytes()),
                        b64url(claims.to_string().as_bytes())
                    );
                    let input_file = dir.join(format!("sign-{}", req2.load(Ordering::SeqCst)));
                    std::fs::write(&input_file, &signing_input).unwrap();
                    let sig = Command::new("openssl")
                        .args(["dgst", "-sha256", "-binary", "-sign"])
                        .arg(dir.join("token.key"))
                        .arg(&input_file)
                        .output()
                        .unwrap()
                        .stdout;
                    let jwt = format!("{signing_input}.{}", b64url(&sig));
                    (
                        "200 OK",
                        serde_json::json!({"token": jwt, "access_token": jwt, "expires_in": 300})
                            .to_string(),
                    )
                } else {
                    (
                        "401 Unauthorized",
                        r#"{"details":"bad credentials"}"#.to_string(),
                    )
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (TokenServer { port, requests }, cert)
    }
}

#[test]
fn bearer_token_auth_login_push_pull() {
    let test = "bearer_token_auth_login_push_pull";
    if !need_tools(test, &["docker-registry", "openssl", "busybox", "tar"]) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (service, issuer) = ("rbuild-registry", "rbuild-test-issuer");
    let (tokens, cert) = TokenServer::start(t.path(), service, issuer);
    let reg = Registry::start(
        &t.path().join("reg"),
        Auth::Token {
            realm: format!("http://127.0.0.1:{}/token", tokens.port),
            service: service.into(),
            issuer: issuer.into(),
            cert,
        },
    );
    let host = reg.host();
    let cfg = t.path().join("docker");
    let rb = |store: &str| rbuild(&t.path().join(store), &cfg);
    let tar = busybox_tar(t.path());
    run(rb("s1").arg("import").arg(&tar).arg("bb:1"));
    let image = format!("{host}/tok/bb:1");

    let err = run_fail(rb("s1").args(["push", "bb:1", &image]));
    assert!(
        err.contains("authentication required or denied"),
        "anonymous: {err}"
    );
    let out = login(&mut rb("s1"), &host, "wrong-password", &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("denied"), "{}", text(&out));
    let out = login(&mut rb("s1"), &host, PASS, &[]);
    assert!(out.status.success(), "{}", text(&out));

    let pushed = run(rb("s1").args(["push", "-q", "bb:1", &image]));
    let before = tokens.requests.load(Ordering::SeqCst);
    let pull = rb("s2").args(["pull", &image]).output().unwrap();
    assert!(pull.status.success(), "{}", text(&pull));
    assert!(!text(&pull).contains(PASS));
    // One token for the whole pull: cached across manifest and blob requests.
    let used = tokens.requests.load(Ordering::SeqCst) - before;
    assert!(used <= 2, "token requests for one pull: {used}");
    let listing = run(rb("s2").args(["images", "--digests", "--no-trunc"]));
    assert!(listing.contains(pushed.trim()), "{listing}");
    assert_not_in_tree(&t.path().join("s2"), PASS);

    run(rb("s2").args(["logout", &host]));
    let err = run_fail(rb("s3").args(["pull", &image]));
    assert!(err.contains("authentication required or denied"), "{err}");
}
