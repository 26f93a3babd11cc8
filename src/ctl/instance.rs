//! Instances as conf files: names, reading every `CONF_DIR/NAME.conf`, the
//! ports they use, checking a conf with the code of `websockify --check`, and
//! the text `add` and `nginx` write.

use std::net::{Ipv6Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::Ctx;
use crate::addr::ListenAddr;
use crate::config::options::{ConfFile, Merged, OneOrMany, Options};
use crate::config::Settings;

/// Ports `add` tries, from noVNC's usual 6080.
pub const PORTS: std::ops::Range<u16> = 6080..6180;

/// One conf file.
pub struct Instance {
    /// NAME of NAME.conf.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Its options (default ones when it does not parse).
    pub options: Options,
    /// Why it does not parse, if it does not.
    pub error: Option<String>,
}

/// Which instance names websockifyctl takes, in the words of
/// websockify.conf(5) (tests/it/man.rs holds them together).
pub const NAME_RULE: &str =
    "a name starts with a letter or a digit, followed by letters, digits and _ - .";

/// Refuses names systemd or the generator would not take, `.hidden` ones,
/// and names that commands would read as an option (`-x`): letters, digits
/// and `_.-`, starting with a letter or digit (websockify.conf(5)).
pub fn check_name(name: &str) -> Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        bail!("{name:?}: not an instance name: {NAME_RULE} (websockify.conf(5))");
    }
    Ok(())
}

/// Every instance in the conf directory, by name.
pub fn all(ctx: &Ctx) -> Result<Vec<Instance>> {
    let entries = match std::fs::read_dir(&ctx.dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", ctx.dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = match path.file_name().and_then(|n| n.to_str()) {
            Some(n) => n.strip_suffix(".conf").map(str::to_owned),
            None => None,
        };
        if let Some(name) = name.filter(|n| check_name(n).is_ok()) {
            out.push(read(name, path));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Instance `name`, which must exist.
pub fn one(ctx: &Ctx, name: &str) -> Result<Instance> {
    check_name(name)?;
    let path = ctx.conf(name);
    if !path.is_file() {
        bail!(
            "no such instance: {name} ({} does not exist)",
            path.display()
        );
    }
    Ok(read(name.to_owned(), path))
}

fn read(name: String, path: PathBuf) -> Instance {
    let (options, error) = match ConfFile::read(&path) {
        Ok(conf) => (conf.options, None),
        Err(e) => (Options::default(), Some(e.to_string())),
    };
    Instance {
        name,
        path,
        options,
        error,
    }
}

impl Instance {
    /// The listen addresses as written.
    pub fn listen(&self) -> Vec<String> {
        self.options
            .listen
            .clone()
            .map(OneOrMany::into_vec)
            .unwrap_or_default()
    }

    /// The TCP ports it listens on.
    pub fn ports(&self) -> Vec<u16> {
        let listen = self.listen().into_iter();
        listen
            .filter_map(|l| ListenAddr::parse(&l).ok().map(|a| a.port))
            .collect()
    }

    /// Its password file, if it asks for one.
    pub fn auth_file(&self) -> Option<&Path> {
        self.options.auth_file.as_deref()
    }
}

/// Validates `text` as the conf file `path` would be, with the code of
/// `websockify --check` (certificate, key, web root and password file read).
pub fn check(path: &Path, text: &str) -> Result<()> {
    let conf = ConfFile::parse(path, text.to_owned())?;
    Settings::from_merged(&Merged::new(Some(conf), Options::default()))
        .with_context(|| format!("{}: not written", path.display()))?;
    Ok(())
}

/// Whether a port is free now: not in another conf (except `name`'s) and
/// bindable on every address.
pub fn port_free(ctx: &Ctx, name: &str, port: u16) -> Result<bool> {
    Ok(require_port(ctx, name, port).is_ok())
}

/// Fails with "port taken" when `port` is used by another instance or
/// cannot be bound.
pub fn require_port(ctx: &Ctx, name: &str, port: u16) -> Result<()> {
    if let Some(other) = all(ctx)?
        .iter()
        .find(|i| i.name != name && i.ports().contains(&port))
    {
        bail!(
            "port {port} is taken by instance {} ({})",
            other.name,
            other.path.display()
        );
    }
    let own = all(ctx)?
        .iter()
        .any(|i| i.name == name && i.ports().contains(&port));
    // The instance itself may be listening there (add --force).
    if !own && !bindable(port) {
        bail!("port {port} is taken: something listens on it already (see ss -ltnp)");
    }
    Ok(())
}

/// The first free port of [`PORTS`].
pub fn next_port(ctx: &Ctx, name: &str) -> Result<u16> {
    for port in PORTS {
        if port_free(ctx, name, port)? {
            return Ok(port);
        }
    }
    bail!(
        "no free port in {}-{}: give --listen",
        PORTS.start,
        PORTS.end - 1
    )
}

fn bindable(port: u16) -> bool {
    // The dual-stack wildcard covers IPv4 too; without IPv6, try IPv4.
    let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    match TcpListener::bind(v6) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => false,
        Err(_) => TcpListener::bind(("0.0.0.0", port)).is_ok(),
    }
}

/// A TOML basic string (JSON's escapes are TOML's).
pub fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// `key = "v"` for one value, `key = ["a", "b"]` for several.
pub fn toml_list(key: &str, values: &[String]) -> String {
    if let [one] = values {
        return format!("{key} = {}\n", toml_str(one));
    }
    let items: Vec<String> = values.iter().map(|v| toml_str(v)).collect();
    format!("{key} = [{}]\n", items.join(", "))
}

/// Keys `nginx` sets anew when it moves an instance to loopback.
pub const LISTEN_KEYS: &[&str] = &["listen", "cert", "key", "ssl-only", "trusted-proxies"];

/// `text` without the lines that set `keys` (an array over several lines
/// included).
pub fn without_keys(text: &str, keys: &[&str]) -> String {
    let mut out = String::new();
    let mut in_array = false;
    for line in text.lines() {
        if in_array {
            in_array = !line.contains(']');
            continue;
        }
        let trimmed = line.trim_start();
        let key = trimmed
            .split('=')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        if trimmed.contains('=') && keys.contains(&key) {
            let value = trimmed.split_once('=').map_or("", |(_, v)| v.trim());
            in_array = value.starts_with('[') && !value.contains(']');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["display1", "a.b", "x_y-z", "A9"] {
            check_name(good).unwrap();
        }
        for bad in [
            "", ".hidden", "a/b", "a b", "é", "x:y", "../x", "-x", "_x", "-",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_are_taken_out_with_their_arrays() {
        let text =
            "listen = [\n  \"1\",\n  \"2\",\n]\ntarget = \"h:1\"\ncert = \"c\"\n# cert = x\n";
        assert_eq!(
            without_keys(text, LISTEN_KEYS),
            "target = \"h:1\"\n# cert = x\n"
        );
        assert_eq!(toml_list("a", &["x\"y".into()]), "a = \"x\\\"y\"\n");
        assert_eq!(
            toml_list("a", &["1".into(), "2".into()]),
            "a = [\"1\", \"2\"]\n"
        );
    }
}
