//! Workload API endpoint addresses (SPIFFE Workload Endpoint §4, narrowed by our policy).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The environment variable that names the Workload API endpoint
/// (SPIFFE Workload Endpoint §4).
pub const ENDPOINT_SOCKET_ENV: &str = "SPIFFE_ENDPOINT_SOCKET";

/// Where the Workload API listens: a Unix domain socket or a TCP socket on an IP address.
///
/// Accepted forms are `unix:///abs/path`, `unix:/abs/path`, `tcp://IPv4:port` and
/// `tcp://[IPv6]:port`. Everything else is refused with an [`AddressError`] that says what is
/// wrong with the input.
///
/// ```
/// use spiffe_workload_api::Address;
///
/// let addr: Address = "unix:///run/spire/agent.sock".parse()?;
/// assert_eq!(addr.unix_path(), Some(std::path::Path::new("/run/spire/agent.sock")));
/// assert!("tcp://localhost:8081".parse::<Address>().is_err());
/// # Ok::<(), spiffe_workload_api::AddressError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Address {
    /// Parses an endpoint address; the same as `s.parse()`.
    ///
    /// # Errors
    ///
    /// An [`AddressError`] naming the first rule the input breaks.
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        let Some((scheme, rest)) = s.split_once(':') else {
            return Err(no_scheme(s));
        };
        if scheme.is_empty() || scheme.contains('/') {
            return Err(no_scheme(s));
        }

        // SPIFFE Workload Endpoint §4: the URI carries no query and no fragment.
        if rest.contains('?') || rest.contains('#') {
            return Err(AddressError::QueryOrFragment);
        }

        match scheme.to_ascii_lowercase().as_str() {
            "unix" => parse_unix(rest),
            "tcp" => parse_tcp(rest),
            "npipe" => Err(AddressError::NamedPipeUnsupported),
            // The error echoes at most 32 characters of an unknown scheme.
            _ => Err(AddressError::UnsupportedScheme {
                scheme: scheme.chars().take(32).collect(),
            }),
        }
    }

    /// An address for the Unix domain socket at `path`.
    ///
    /// # Errors
    ///
    /// [`AddressError::UnixRelativePath`] when `path` is not absolute.
    pub fn unix(path: impl Into<PathBuf>) -> Result<Self, AddressError> {
        let path = path.into();
        if !path.is_absolute() {
            return Err(AddressError::UnixRelativePath);
        }
        Ok(Self {
            kind: Kind::Unix(path),
        })
    }

    /// An address for a TCP socket.
    pub fn tcp(addr: SocketAddr) -> Self {
        Self {
            kind: Kind::Tcp(addr),
        }
    }

    /// The socket path, for a Unix address.
    pub fn unix_path(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Unix(path) => Some(path),
            Kind::Tcp(_) => None,
        }
    }

    /// The IP address and port, for a TCP address.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match &self.kind {
            Kind::Unix(_) => None,
            Kind::Tcp(addr) => Some(*addr),
        }
    }
}

fn no_scheme(s: &str) -> AddressError {
    if s.starts_with('/') || s.starts_with('.') {
        AddressError::BarePath
    } else {
        AddressError::MissingScheme
    }
}

fn parse_unix(rest: &str) -> Result<Address, AddressError> {
    // `unix:///p` has an empty authority; `unix:/p` has none. Any other authority is refused:
    // `unix://tmp/a` would otherwise silently become the relative path `tmp/a` or `/a`.
    let path = match rest.strip_prefix("//") {
        Some(after) => {
            let (authority, path) = after.find('/').map_or((after, ""), |i| after.split_at(i));
            if authority.contains('@') {
                return Err(AddressError::Userinfo);
            }
            if !authority.is_empty() {
                return Err(AddressError::UnixAuthority);
            }
            path
        }
        None => rest,
    };

    if path.is_empty() {
        return Err(AddressError::UnixEmptyPath);
    }
    if !path.starts_with('/') {
        return Err(AddressError::UnixRelativePath);
    }
    Ok(Address {
        kind: Kind::Unix(PathBuf::from(path)),
    })
}

fn parse_tcp(rest: &str) -> Result<Address, AddressError> {
    let Some(after) = rest.strip_prefix("//") else {
        return Err(AddressError::TcpMissingAuthority);
    };
    let (authority, path) = after.find('/').map_or((after, ""), |i| after.split_at(i));
    if authority.contains('@') {
        return Err(AddressError::Userinfo);
    }
    if !path.is_empty() {
        return Err(AddressError::TcpPath);
    }

    let (ip, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((host, after_host)) = bracketed.split_once(']') else {
            return Err(AddressError::TcpInvalidIp);
        };
        let ip: Ipv6Addr = host.parse().map_err(|_| AddressError::TcpInvalidIp)?;
        let Some(port) = after_host.strip_prefix(':') else {
            return Err(AddressError::TcpMissingPort);
        };
        (IpAddr::V6(ip), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let ip = host.parse::<Ipv4Addr>().map_err(|_| host_error(host))?;
        let Some(port) = port else {
            return Err(AddressError::TcpMissingPort);
        };
        (IpAddr::V4(ip), port)
    };

    if port.is_empty() {
        return Err(AddressError::TcpMissingPort);
    }
    // RFC 3986 §3.2.3: a port is digits only; `u16::from_str` would also take a leading `+`.
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError::TcpInvalidPort);
    }
    let port: u16 = match port.parse() {
        Ok(0) | Err(_) => return Err(AddressError::TcpInvalidPort),
        Ok(port) => port,
    };
    Ok(Address {
        kind: Kind::Tcp(SocketAddr::new(ip, port)),
    })
}

/// A host that is not an IPv4 address: either a name or something malformed.
fn host_error(host: &str) -> AddressError {
    let looks_like_name = !host.is_empty()
        && host.chars().any(|c| c.is_ascii_alphabetic())
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if looks_like_name {
        AddressError::TcpHostName
    } else {
        AddressError::TcpInvalidIp
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Unix(path) => write!(f, "unix://{}", path.display()),
            Kind::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
    }
}

/// Why a Workload API endpoint address was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressError {
    /// A bare filesystem path such as `/run/agent.sock`; the address must be a URI.
    BarePath,
    /// No URI scheme at all.
    MissingScheme,
    /// A scheme other than `unix` and `tcp`.
    UnsupportedScheme {
        /// The scheme as written.
        scheme: String,
    },
    /// `npipe:` (Windows named pipes) on a platform without them.
    NamedPipeUnsupported,
    /// A query (`?`) or fragment (`#`); SPIFFE Workload Endpoint §4 forbids both.
    QueryOrFragment,
    /// Userinfo (`user@`) in the authority.
    Userinfo,
    /// A `unix` URI with an authority, such as `unix://tmp/a`.
    UnixAuthority,
    /// A `unix` URI without a path.
    UnixEmptyPath,
    /// A `unix` URI whose path is not absolute.
    UnixRelativePath,
    /// A `tcp` URI without `//host:port`.
    TcpMissingAuthority,
    /// A `tcp` URI whose host is a name; SPIFFE Workload Endpoint §4 requires an IP address.
    TcpHostName,
    /// A `tcp` URI whose host is neither an IPv4 address nor a bracketed IPv6 address.
    TcpInvalidIp,
    /// A `tcp` URI without a port.
    TcpMissingPort,
    /// A `tcp` URI whose port is not a number from 1 to 65535.
    TcpInvalidPort,
    /// A `tcp` URI with a path.
    TcpPath,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BarePath => f.write_str(
                "workload API address is a bare path; write it as a URI, \
                 e.g. unix:///path/to/socket",
            ),
            Self::MissingScheme => {
                f.write_str("workload API address has no scheme; use unix:///path or tcp://ip:port")
            }
            Self::UnsupportedScheme { scheme } => write!(
                f,
                "workload API address scheme {scheme:?} is not supported; use unix or tcp"
            ),
            Self::NamedPipeUnsupported => {
                f.write_str("named pipe workload API addresses are not supported on this platform")
            }
            Self::QueryOrFragment => {
                f.write_str("workload API address must not have a query or fragment")
            }
            Self::Userinfo => f.write_str("workload API address must not have userinfo"),
            Self::UnixAuthority => f.write_str(
                "unix workload API address must not have an authority; use unix:///abs/path",
            ),
            Self::UnixEmptyPath => f.write_str("unix workload API address has no socket path"),
            Self::UnixRelativePath => {
                f.write_str("unix workload API address must have an absolute socket path")
            }
            Self::TcpMissingAuthority => {
                f.write_str("tcp workload API address must have the form tcp://ip:port")
            }
            Self::TcpHostName => {
                f.write_str("tcp workload API address must use an IP address, not a host name")
            }
            Self::TcpInvalidIp => f.write_str(
                "tcp workload API address host is not an IPv4 or bracketed IPv6 address",
            ),
            Self::TcpMissingPort => f.write_str("tcp workload API address has no port"),
            Self::TcpInvalidPort => {
                f.write_str("tcp workload API address port is not a number from 1 to 65535")
            }
            Self::TcpPath => f.write_str("tcp workload API address must not have a path"),
        }
    }
}

impl std::error::Error for AddressError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_per_the_endpoint_table() {
        // Scenario X1, plus the refusals of our address policy.
        let rows: &[(&str, Result<&str, AddressError>)] = &[
            ("unix:/tmp/a", Ok("unix:///tmp/a")),
            ("unix:///tmp/a", Ok("unix:///tmp/a")),
            ("UNIX:///tmp/a", Ok("unix:///tmp/a")),
            ("unix://tmp/a", Err(AddressError::UnixAuthority)),
            ("unix://user@/tmp/a", Err(AddressError::Userinfo)),
            ("unix:tmp/a", Err(AddressError::UnixRelativePath)),
            ("unix:", Err(AddressError::UnixEmptyPath)),
            ("unix://", Err(AddressError::UnixEmptyPath)),
            ("unix:///tmp/a?x=1", Err(AddressError::QueryOrFragment)),
            ("unix:///tmp/a#frag", Err(AddressError::QueryOrFragment)),
            ("/tmp/a", Err(AddressError::BarePath)),
            ("./agent.sock", Err(AddressError::BarePath)),
            ("agent.sock", Err(AddressError::MissingScheme)),
            ("tcp://127.0.0.1:1", Ok("tcp://127.0.0.1:1")),
            ("tcp://[::1]:1", Ok("tcp://[::1]:1")),
            ("tcp://localhost:1", Err(AddressError::TcpHostName)),
            ("tcp://127.0.0.1", Err(AddressError::TcpMissingPort)),
            ("tcp://127.0.0.1:", Err(AddressError::TcpMissingPort)),
            ("tcp://[::1]", Err(AddressError::TcpMissingPort)),
            ("tcp://[::1:1", Err(AddressError::TcpInvalidIp)),
            ("tcp://::1:1", Err(AddressError::TcpInvalidIp)),
            ("tcp://127.0.0.1:0", Err(AddressError::TcpInvalidPort)),
            ("tcp://127.0.0.1:70000", Err(AddressError::TcpInvalidPort)),
            ("tcp://127.0.0.1:+80", Err(AddressError::TcpInvalidPort)),
            ("tcp://[::1]:+80", Err(AddressError::TcpInvalidPort)),
            ("tcp://127.0.0.1:1/p", Err(AddressError::TcpPath)),
            ("tcp://me@127.0.0.1:1", Err(AddressError::Userinfo)),
            ("tcp://127.0.0.1:1?q", Err(AddressError::QueryOrFragment)),
            ("tcp:127.0.0.1:1", Err(AddressError::TcpMissingAuthority)),
            ("npipe:agent", Err(AddressError::NamedPipeUnsupported)),
            (
                "http://127.0.0.1:1",
                Err(AddressError::UnsupportedScheme {
                    scheme: "http".into(),
                }),
            ),
            ("", Err(AddressError::MissingScheme)),
        ];

        for (input, expected) in rows {
            let got = Address::parse(input).map(|a| a.to_string());
            let expected = expected.clone().map(str::to_string);
            assert_eq!(got, expected, "input {input:?}");
        }
    }

    #[test]
    fn bare_path_error_suggests_the_unix_scheme() {
        let err = Address::parse("/run/agent.sock").unwrap_err();
        assert!(err.to_string().contains("unix://"), "{err}");
    }

    #[test]
    fn named_pipe_error_says_not_supported_on_this_platform() {
        let err = Address::parse("npipe:agent").unwrap_err();
        assert!(
            err.to_string().contains("not supported on this platform"),
            "{err}"
        );
    }

    #[test]
    fn unix_constructor_refuses_relative_paths() {
        assert_eq!(Address::unix("tmp/a"), Err(AddressError::UnixRelativePath));
        let addr = Address::unix("/tmp/a").unwrap();
        assert_eq!(addr.unix_path(), Some(Path::new("/tmp/a")));
        assert_eq!(addr.tcp_addr(), None);
    }
}
