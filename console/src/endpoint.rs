//! Where the daemon is: `unix:PATH`, `tls://HOST:PORT` or `tcp://127.0.0.1:PORT`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The default socket: the demo data dir's, relative to the working directory.
pub const DEFAULT_SOCKET: &str = "./idoctor-data/idoctord.sock";

/// A daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket path.
    Unix(PathBuf),
    /// TLS over TCP; the certificate is pinned on first use.
    Tls {
        /// Host name or IP.
        host: String,
        /// Port.
        port: u16,
    },
    /// Plain TCP, loopback only.
    Tcp {
        /// Host name or IP (must resolve to loopback).
        host: String,
        /// Port.
        port: u16,
    },
}

impl Default for Endpoint {
    fn default() -> Self {
        Endpoint::Unix(PathBuf::from(DEFAULT_SOCKET))
    }
}

fn host_port(spec: &str, text: &str) -> Result<(String, u16), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{spec:?}: expected HOST:PORT"))?;
    let port = port
        .parse()
        .map_err(|_| format!("{spec:?}: {port:?} is not a port number"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{spec:?}: missing host"));
    }
    Ok((host.to_string(), port))
}

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a socket path".into());
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("tls://") {
            let (host, port) = host_port(s, rest)?;
            return Ok(Endpoint::Tls { host, port });
        }
        if let Some(rest) = s.strip_prefix("tcp://") {
            let (host, port) = host_port(s, rest)?;
            return Ok(Endpoint::Tcp { host, port });
        }
        Err(format!(
            "unknown server address {s:?}: use unix:PATH, tls://HOST:PORT or tcp://127.0.0.1:PORT"
        ))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Tls { host, port } => write!(f, "tls://{host}:{port}"),
            Endpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

impl Endpoint {
    /// A stable key for the session and pin files. Unix paths are made absolute so the
    /// same socket reached from two working directories shares one session.
    pub fn key(&self) -> String {
        match self {
            Endpoint::Unix(p) => {
                let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
                format!("unix:{}", abs.display())
            }
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            "unix:/tmp/x.sock".parse::<Endpoint>().unwrap(),
            Endpoint::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            "tls://pacs.example:7443".parse::<Endpoint>().unwrap(),
            Endpoint::Tls {
                host: "pacs.example".into(),
                port: 7443
            }
        );
        assert_eq!(
            "tcp://[::1]:9".parse::<Endpoint>().unwrap(),
            Endpoint::Tcp {
                host: "::1".into(),
                port: 9
            }
        );
        for bad in [
            "",
            "unix:",
            "http://x:1",
            "tls://x",
            "tls://x:port",
            "tcp://:5",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
        assert_eq!(
            Endpoint::default().to_string(),
            "unix:./idoctor-data/idoctord.sock"
        );
    }
}
