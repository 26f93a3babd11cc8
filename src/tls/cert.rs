//! `--generate-cert`: a self-signed TLS certificate and its key, made with
//! rcgen (no openssl), as the Debian package's postinst makes
//! `/etc/websockify/ssl/websockify.{crt,key}`.
//!
//! The certificate is ECDSA P-256 with SHA-256 (what rcgen makes with ring, and
//! what every browser noVNC runs in accepts), `CN` = the first name, every name
//! as a subject alternative name (IP addresses as IP SANs, anything else as a
//! DNS name), `serverAuth` extended key usage, valid from an hour ago (clock
//! skew) for [`VALIDITY_DAYS`] days.
//!
//! [`generate`] never overwrites: an existing certificate or key is an error
//! naming it. Each file is written to a temporary file in its own directory
//! (the key with mode 0600 from its creation on), fsynced, and then hard-linked
//! to its name, which fails rather than replaces when the name exists, so there
//! is never a half-written or world-readable key under the real name.
//! [`replace`] (`websockifyctl cert renew`) is the explicit way to overwrite:
//! the same temporary files, renamed over the old ones.

use std::net::IpAddr;

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};

use crate::atomic_file::{create_temp, parent, sync_dir, temp_name, write_synced, RemoveOnDrop};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};

/// How long a generated certificate is valid: 825 days. Apple's platforms
/// (Safari on macOS and iOS) reject TLS server certificates valid for longer,
/// even self-signed ones a user chose to trust; `mkcert` uses the same limit.
/// Regenerate with `websockify --generate-cert` (see websockify(1)).
pub const VALIDITY_DAYS: i64 = 825;

/// How long [`default_names`] waits for the resolver to give the host's FQDN.
const FQDN_LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// Writes a new self-signed certificate to `cert` and its private key to `key`
/// (PEM; both in one file when the paths are equal), for `names` (host names
/// and IP addresses; the first is also the subject's common name; duplicates
/// are dropped). Fails, naming the file, when `cert` or `key` already exists.
pub fn generate(cert: &Path, key: &Path, names: &[String]) -> Result<()> {
    let names = check_names(names)?;
    for (what, path) in [("certificate", cert), ("key", key)] {
        if path.symlink_metadata().is_ok() {
            bail!(
                "{}: {what} file exists; refusing to overwrite it (move it away first)",
                path.display()
            );
        }
        let dir = parent(path);
        if !dir.is_dir() {
            bail!(
                "{}: cannot write the {what}: directory {} does not exist",
                path.display(),
                dir.display()
            );
        }
    }

    let (cert_pem, key_pem) = make(&names)?;

    if cert == key {
        let mut both = key_pem;
        both.push_str(&cert_pem);
        return write_new(key, both.as_bytes(), 0o600);
    }
    write_new(key, key_pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(cert, cert_pem.as_bytes(), 0o644) {
        // Don't leave a key without its certificate behind.
        let _ = std::fs::remove_file(key);
        return Err(e);
    }
    Ok(())
}

/// Writes a new certificate and key for `names` in place of the files at
/// `cert` and `key` (which need not exist). Each is written to a temporary
/// file beside it and renamed over the old one, so a reader (the daemon on
/// SIGHUP) finds the old file or the new one, never a part. The key keeps the
/// old key's owner, group and mode (never more than 0640); the certificate is
/// 0644.
pub fn replace(cert: &Path, key: &Path, names: &[String]) -> Result<()> {
    let names = check_names(names)?;
    let (cert_pem, key_pem) = make(&names)?;
    let old_key = key.metadata().ok();
    if cert == key {
        let both = key_pem + &cert_pem;
        return write_over(key, both.as_bytes(), 0o600, old_key.as_ref());
    }
    write_over(key, key_pem.as_bytes(), 0o600, old_key.as_ref())?;
    write_over(cert, cert_pem.as_bytes(), 0o644, None)
}

/// The names a certificate for this host should carry: the host name, its
/// fully qualified name when the resolver knows one (waiting at most a few
/// seconds), the addresses of the network interfaces (no loopback, no IPv6
/// link-local), then `localhost`, `127.0.0.1` and `::1`. Never fails: what
/// cannot be found is left out.
pub fn default_names() -> Vec<String> {
    let mut names = Vec::new();
    if let Some(host) = host_name() {
        if let Some(fqdn) = fqdn(&host) {
            if fqdn.contains('.') && !fqdn.eq_ignore_ascii_case(&host) {
                names.push(host.clone());
                names.push(fqdn);
            } else {
                names.push(host);
            }
        } else {
            names.push(host);
        }
    }
    names.extend(interface_addresses().iter().map(IpAddr::to_string));
    names.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    // Only names a certificate can carry; no duplicates.
    let mut out: Vec<String> = Vec::new();
    for name in names {
        if parse_name(&name).is_ok() && !out.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            out.push(name);
        }
    }
    out
}

/// A subject alternative name: an IP address or a DNS name.
fn parse_name(name: &str) -> Result<SanType> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    // `[::1]` as people write it in URLs.
    if let Some(ip) = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .and_then(|n| n.parse::<IpAddr>().ok())
    {
        return Ok(SanType::IpAddress(ip));
    }
    // A wildcard is allowed as the whole leftmost label only.
    let plain = name.strip_prefix("*.").unwrap_or(name);
    if rustls::pki_types::DnsName::try_from(plain).is_err() || plain.contains('*') {
        bail!("{name:?} is neither an IP address nor a valid DNS name");
    }
    Ok(SanType::DnsName(name.to_owned().try_into().map_err(
        |e| anyhow!("{name:?} is not a valid DNS name: {e}"),
    )?))
}

/// The names as SANs, without duplicates; at least one.
fn check_names(names: &[String]) -> Result<Vec<(String, SanType)>> {
    let mut out: Vec<(String, SanType)> = Vec::new();
    for name in names {
        let name = name.trim();
        let san = parse_name(name).with_context(|| "cannot put it in a certificate")?;
        if !out.iter().any(|(_, s)| same_san(s, &san)) {
            out.push((
                name.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                san,
            ));
        }
    }
    if out.is_empty() {
        bail!("a certificate needs at least one host name or address");
    }
    Ok(out)
}

fn same_san(a: &SanType, b: &SanType) -> bool {
    match (a, b) {
        (SanType::IpAddress(x), SanType::IpAddress(y)) => x == y,
        (SanType::DnsName(x), SanType::DnsName(y)) => x.as_str().eq_ignore_ascii_case(y.as_str()),
        _ => false,
    }
}

/// The certificate and key PEM texts.
fn make(names: &[(String, SanType)]) -> Result<(String, String)> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("generating the key")?;
    let mut params = CertificateParams::default();
    params.subject_alt_names = names.iter().map(|(_, san)| san.clone()).collect();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, names[0].0.as_str());
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::from(SystemTime::now());
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(VALIDITY_DAYS);
    let cert = params
        .self_signed(&key)
        .context("signing the certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes `data` to a new file `path` with `mode` (less the umask), never
/// replacing an existing one: temp file in the same directory, fsync, link.
fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = parent(path);
    let tmp = temp_name(path);
    let guard = RemoveOnDrop(&tmp);
    write_temp(&tmp, data, mode, None)?;
    std::fs::hard_link(&tmp, path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow!("{}: file exists; refusing to overwrite it", path.display())
        } else {
            anyhow!("cannot create {}: {e}", path.display())
        }
    })?;
    drop(guard);
    sync_dir(dir)
}

/// Writes `data` to `path` in place of what is there: temp file, fsync,
/// rename. With `like`, the file gets its owner, group and mode (at most 0640).
fn write_over(path: &Path, data: &[u8], mode: u32, like: Option<&std::fs::Metadata>) -> Result<()> {
    let dir = parent(path);
    if !dir.is_dir() {
        bail!(
            "{}: directory {} does not exist",
            path.display(),
            dir.display()
        );
    }
    let tmp = temp_name(path);
    let _guard = RemoveOnDrop(&tmp);
    write_temp(&tmp, data, mode, like)?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    sync_dir(dir)
}

/// Creates `tmp` (never existing) with `mode`, or `like`'s owner and mode,
/// and writes and fsyncs `data`.
fn write_temp(tmp: &Path, data: &[u8], mode: u32, like: Option<&std::fs::Metadata>) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let file = create_temp(tmp, mode)?;
    if let Some(old) = like {
        // Owner first: chown clears no bits here, and the mode is never wider.
        std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()))
            .and_then(|()| {
                file.set_permissions(std::fs::Permissions::from_mode(old.mode() & 0o640))
            })
            .with_context(|| format!("cannot give {} the old file's owner", tmp.display()))?;
    }
    write_synced(file, tmp, data)
}

fn host_name() -> Option<String> {
    let host = dns_lookup::get_hostname().ok()?;
    let host = host.trim().trim_end_matches('.').to_owned();
    (!host.is_empty() && host != "(none)").then_some(host)
}

/// The resolver's canonical name for `host` (what `hostname -f` prints), in
/// a thread so that a resolver with no reachable DNS server cannot stall the
/// caller (a package install) for more than [`FQDN_LOOKUP_TIMEOUT`].
fn fqdn(host: &str) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    let host = host.to_owned();
    std::thread::Builder::new()
        .name("fqdn".into())
        .spawn(move || {
            let hints = dns_lookup::AddrInfoHints {
                flags: nix::libc::AI_CANONNAME,
                address: 0,
                socktype: nix::libc::SOCK_STREAM,
                protocol: 0,
            };
            let name = dns_lookup::getaddrinfo(Some(&host), None, Some(hints))
                .ok()
                .and_then(|mut it| it.find_map(|ai| ai.ok().and_then(|ai| ai.canonname)));
            let _ = tx.send(name);
        })
        .ok()?;
    let name = rx.recv_timeout(FQDN_LOOKUP_TIMEOUT).ok()??;
    let name = name.trim_end_matches('.').to_owned();
    (!name.is_empty()).then_some(name)
}

/// Addresses of this host's interfaces that a browser could connect to.
fn interface_addresses() -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ifa in addrs {
        let Some(addr) = ifa.address else { continue };
        let ip = if let Some(v4) = addr.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        if usable(&ip) && !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

fn usable(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_unspecified(),
        // fe80::/10 needs a zone ("%eth0") that neither URLs nor certificates carry.
        IpAddr::V6(v6) => {
            !v6.is_loopback() && !v6.is_unspecified() && (v6.segments()[0] & 0xffc0) != 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    use super::*;

    /// A fresh empty directory, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "websockify-cert-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
        fn entries(&self) -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn verifies_for(cert: &Path, name: &str) -> bool {
        let der = CertificateDer::from_pem_file(cert).unwrap();
        let parsed = rustls::server::ParsedCertificate::try_from(&der).unwrap();
        let server_name = ServerName::try_from(name.to_owned()).unwrap();
        rustls::client::verify_server_name(&parsed, &server_name).is_ok()
    }

    #[test]
    fn generates_a_usable_pair_with_the_names() {
        let dir = TempDir::new();
        let (crt, key) = (dir.path("w.crt"), dir.path("w.key"));
        let names = strings(&[
            "vm.example.org",
            "vm",
            "192.0.2.7",
            "2001:db8::7",
            "localhost",
        ]);
        generate(&crt, &key, &names).unwrap();

        assert_eq!(dir.entries(), ["w.crt", "w.key"], "no temp files left");
        assert_eq!(mode(&key), 0o600);
        let key_pem = std::fs::read_to_string(&key).unwrap();
        assert!(
            key_pem.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{key_pem}"
        );
        assert!(!std::fs::read_to_string(&crt).unwrap().contains("PRIVATE"));
        // The server's own loader accepts them and the key matches the cert.
        crate::tls::server_config(&crt, Some(&key), &Default::default()).unwrap();
        for name in &names {
            assert!(verifies_for(&crt, name), "{name} should be in the SANs");
        }
        assert!(!verifies_for(&crt, "other.example.org"));
        assert!(!verifies_for(&crt, "192.0.2.8"));
    }

    #[test]
    fn openssl_sees_cn_sans_key_type_and_validity() {
        let dir = TempDir::new();
        let (crt, key) = (dir.path("w.crt"), dir.path("w.key"));
        generate(&crt, &key, &strings(&["host1", "10.1.2.3", "::1"])).unwrap();
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(&crt)
            .output()
            .expect("openssl must be installed for this test (apt-get install openssl)");
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for want in [
            "Subject: CN = host1",
            "Issuer: CN = host1",
            "DNS:host1, IP Address:10.1.2.3, IP Address:0:0:0:0:0:0:0:1",
            "id-ecPublicKey",
            "prime256v1",
            "ecdsa-with-SHA256",
            "TLS Web Server Authentication",
            "CA:FALSE",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        // Valid now, and no longer than VALIDITY_DAYS.
        let days = |d: i64| {
            Command::new("openssl")
                .args([
                    "x509",
                    "-noout",
                    "-checkend",
                    &(d * 86400).to_string(),
                    "-in",
                ])
                .arg(&crt)
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap()
                .success()
        };
        assert!(days(VALIDITY_DAYS - 1), "expires too early");
        assert!(!days(VALIDITY_DAYS + 1), "valid too long");
    }

    #[test]
    fn refuses_to_overwrite_either_file() {
        let dir = TempDir::new();
        let (crt, key) = (dir.path("w.crt"), dir.path("w.key"));
        std::fs::write(&key, "old key").unwrap();
        let err = generate(&crt, &key, &strings(&["h"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&key.display().to_string()) && err.contains("exists"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "old key");
        assert_eq!(dir.entries(), ["w.key"]);

        std::fs::remove_file(&key).unwrap();
        std::fs::write(&crt, "old cert").unwrap();
        let err = generate(&crt, &key, &strings(&["h"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&crt.display().to_string()) && err.contains("exists"),
            "{err}"
        );
        assert_eq!(dir.entries(), ["w.crt"]);

        // A dangling symlink counts as existing: never write through it.
        std::fs::remove_file(&crt).unwrap();
        std::os::unix::fs::symlink(dir.path("elsewhere"), &key).unwrap();
        assert!(generate(&crt, &key, &strings(&["h"])).is_err());
        assert!(!dir.path("elsewhere").exists());
    }

    #[test]
    fn replace_writes_new_files_keeping_the_key_mode() {
        let dir = TempDir::new();
        let (crt, key) = (dir.path("r.crt"), dir.path("r.key"));
        generate(&crt, &key, &strings(&["old"])).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        let before = std::fs::read(&crt).unwrap();
        replace(&crt, &key, &strings(&["new", "127.0.0.1"])).unwrap();
        assert_ne!(std::fs::read(&crt).unwrap(), before);
        assert_eq!(mode(&key), 0o640);
        assert_eq!(dir.entries(), ["r.crt", "r.key"], "no temp files left");
        assert!(verifies_for(&crt, "new") && !verifies_for(&crt, "old"));
        crate::tls::server_config(&crt, Some(&key), &Default::default()).unwrap();
        // Missing files are simply made.
        replace(&dir.path("n.crt"), &dir.path("n.key"), &strings(&["n"])).unwrap();
        assert_eq!(mode(&dir.path("n.key")), 0o600);
    }

    #[test]
    fn key_is_private_whatever_the_umask_allows() {
        // The key is created 0600, never wider, not chmod-ed afterwards.
        let dir = TempDir::new();
        let (crt, key) = (dir.path("a.crt"), dir.path("a.key"));
        generate(&crt, &key, &strings(&["h"])).unwrap();
        assert_eq!(mode(&key) & 0o077, 0);
        assert_eq!(mode(&crt) & 0o600, 0o600);
    }

    #[test]
    fn one_file_when_cert_and_key_paths_are_equal() {
        let dir = TempDir::new();
        let pem = dir.path("both.pem");
        generate(&pem, &pem, &strings(&["h"])).unwrap();
        assert_eq!(mode(&pem), 0o600);
        crate::tls::server_config(&pem, None, &Default::default()).unwrap();
    }

    #[test]
    fn missing_directory_and_bad_names_are_clear_errors() {
        let dir = TempDir::new();
        let crt = dir.path("nodir/w.crt");
        let err = generate(&crt, &dir.path("w.key"), &strings(&["h"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");

        let (crt, key) = (dir.path("w.crt"), dir.path("w.key"));
        for bad in ["bad name", "a..b", "x*.example.org", ""] {
            let err = format!("{:#}", generate(&crt, &key, &strings(&[bad])).unwrap_err());
            assert!(
                err.contains("cannot put it in a certificate"),
                "{bad:?}: {err}"
            );
        }
        let err = generate(&crt, &key, &[]).unwrap_err().to_string();
        assert!(err.contains("at least one"), "{err}");
        assert!(dir.entries().is_empty());
    }

    #[test]
    fn names_are_deduplicated_and_brackets_accepted() {
        let names =
            check_names(&strings(&["Host", "host", "[::1]", "::1", "*.example.org"])).unwrap();
        let shown: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(shown, ["Host", "::1", "*.example.org"]);
    }

    #[test]
    fn default_names_cover_this_host() {
        let names = default_names();
        for want in ["localhost", "127.0.0.1", "::1"] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
        let host = dns_lookup::get_hostname().unwrap();
        assert_eq!(names[0], host, "{names:?}");
        // Every default name is one a certificate accepts.
        check_names(&names).unwrap();
        assert!(!names.iter().any(|n| n.starts_with("fe80")), "{names:?}");
        // And they make a certificate.
        let dir = TempDir::new();
        generate(&dir.path("d.crt"), &dir.path("d.key"), &names).unwrap();
        for name in &names {
            assert!(verifies_for(&dir.path("d.crt"), name), "{name}");
        }
    }
}
