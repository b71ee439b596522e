//! The configuration file of the `spiffe-dev-agent` binary (feature `cli`).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::identity::parse_duration;
use crate::{DevAgent, DevAgentBuilder, DevAgentError, Identity, JwsAlgorithm};

/// Largest configuration file read, so that a wrong path (a log, a device) fails fast.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Agent settings from a TOML file, which flags may then override.
///
/// ```toml
/// trust_domain = "example.org"
/// socket = "/tmp/spiffe-dev-agent.sock"
/// intermediate = true
/// jwt_algorithm = "RS256"
///
/// [[identity]]
/// spiffe_id = "spiffe://example.org/web"
/// hint = "internal"
/// ttl = "30s"
/// jwt_ttl = "5m"
/// uid = 1000
/// ```
///
/// Every key is optional; unknown keys are errors.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentConfig {
    trust_domain: Option<String>,
    socket: Option<PathBuf>,
    intermediate: bool,
    jwt_algorithm: Option<JwsAlgorithm>,
    identities: Vec<Identity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    trust_domain: Option<String>,
    socket: Option<PathBuf>,
    #[serde(default)]
    intermediate: bool,
    jwt_algorithm: Option<String>,
    #[serde(default)]
    identity: Vec<FileIdentity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIdentity {
    spiffe_id: String,
    hint: Option<String>,
    ttl: Option<String>,
    jwt_ttl: Option<String>,
    uid: Option<u32>,
}

impl AgentConfig {
    /// Parses a TOML document.
    ///
    /// # Errors
    ///
    /// Malformed TOML, an unknown key, a value of the wrong type or a malformed TTL.
    pub fn from_toml_str(text: &str) -> Result<Self, DevAgentError> {
        let file: FileConfig =
            toml::from_str(text).map_err(|err| DevAgentError::InvalidConfig(err.to_string()))?;

        let mut identities = Vec::with_capacity(file.identity.len());
        for entry in file.identity {
            let mut identity = Identity::new(&entry.spiffe_id);
            if let Some(hint) = entry.hint {
                identity = identity.with_hint(hint);
            }
            if let Some(ttl) = entry.ttl {
                let ttl = parse_duration(&ttl)
                    .map_err(|r| DevAgentError::identity(&entry.spiffe_id, r))?;
                identity = identity.with_ttl(ttl);
            }
            if let Some(ttl) = entry.jwt_ttl {
                let ttl = parse_duration(&ttl)
                    .map_err(|r| DevAgentError::identity(&entry.spiffe_id, r))?;
                identity = identity.with_jwt_ttl(ttl);
            }
            if let Some(uid) = entry.uid {
                identity = identity.with_uid(uid);
            }
            identities.push(identity);
        }

        let jwt_algorithm = file
            .jwt_algorithm
            .as_deref()
            .map(parse_jwt_algorithm)
            .transpose()?;
        Ok(Self {
            trust_domain: file.trust_domain,
            socket: file.socket,
            intermediate: file.intermediate,
            jwt_algorithm,
            identities,
        })
    }

    /// Reads and parses a TOML file.
    ///
    /// # Errors
    ///
    /// The file cannot be read or is larger than 1 MiB, or [`from_toml_str`] fails.
    ///
    /// [`from_toml_str`]: Self::from_toml_str
    pub fn from_file(path: &Path) -> Result<Self, DevAgentError> {
        let io_error = |source| DevAgentError::Io {
            context: "cannot read the configuration file",
            path: path.to_owned(),
            source,
        };
        // A device or a FIFO reports a length of 0 and then reads forever (`/dev/zero`) or
        // blocks (a FIFO without writer): only regular files are read, and never more than
        // the limit, in case the file grows between the check and the read.
        let metadata = std::fs::metadata(path).map_err(io_error)?;
        if !metadata.is_file() {
            let msg = format!("{} is not a regular file", path.display());
            return Err(DevAgentError::InvalidConfig(msg));
        }
        let too_large = || {
            let msg = format!("{} is larger than 1 MiB", path.display());
            DevAgentError::InvalidConfig(msg)
        };
        if metadata.len() > MAX_CONFIG_BYTES {
            return Err(too_large());
        }

        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
            .map_err(io_error)?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(too_large());
        }
        let text = String::from_utf8(bytes).map_err(|err| {
            io_error(io::Error::new(io::ErrorKind::InvalidData, err.utf8_error()))
        })?;
        Self::from_toml_str(&text).map_err(|err| match err {
            DevAgentError::InvalidConfig(msg) => {
                DevAgentError::InvalidConfig(format!("{}: {msg}", path.display()))
            }
            other => other,
        })
    }

    /// Sets (overrides) the trust domain.
    pub fn set_trust_domain(&mut self, name: impl Into<String>) {
        self.trust_domain = Some(name.into());
    }

    /// Sets (overrides) the socket path.
    pub fn set_socket(&mut self, path: impl Into<PathBuf>) {
        self.socket = Some(path.into());
    }

    /// Turns the intermediate CA on.
    pub fn enable_intermediate(&mut self) {
        self.intermediate = true;
    }

    /// Sets (overrides) the JWT-SVID signing algorithm.
    pub fn set_jwt_algorithm(&mut self, alg: JwsAlgorithm) {
        self.jwt_algorithm = Some(alg);
    }

    /// Adds an identity after those of the file.
    pub fn add_identity(&mut self, identity: Identity) {
        self.identities.push(identity);
    }

    /// The identities configured so far.
    pub fn identities(&self) -> &[Identity] {
        &self.identities
    }

    /// The socket path, if one is configured.
    pub fn socket(&self) -> Option<&Path> {
        self.socket.as_deref()
    }

    /// A builder with these settings; validation happens in [`DevAgentBuilder::start`].
    pub fn builder(&self) -> DevAgentBuilder {
        let mut builder = DevAgent::builder()
            .intermediate(self.intermediate)
            .identities(self.identities.iter().cloned());
        if let Some(td) = &self.trust_domain {
            builder = builder.trust_domain(td);
        }
        if let Some(socket) = &self.socket {
            builder = builder.socket_path(socket);
        }
        if let Some(alg) = self.jwt_algorithm {
            builder = builder.jwt_algorithm(alg);
        }
        builder
    }
}

/// Reads a JWS algorithm name as registered (`ES256`, `RS256`, ...), for the flag and the
/// TOML key.
///
/// # Errors
///
/// [`DevAgentError::InvalidConfig`] naming the allowed algorithms.
pub fn parse_jwt_algorithm(name: &str) -> Result<JwsAlgorithm, DevAgentError> {
    JwsAlgorithm::from_name(name).ok_or_else(|| {
        let allowed: Vec<_> = JwsAlgorithm::ALL.iter().map(|a| a.name()).collect();
        let name: String = name.chars().take(32).collect();
        DevAgentError::InvalidConfig(format!(
            "jwt algorithm {name:?} is not one of {}",
            allowed.join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn full_config_file_parses() {
        let text = r#"
            trust_domain = "example.org"
            socket = "/tmp/a.sock"
            intermediate = true

            [[identity]]
            spiffe_id = "spiffe://example.org/web"
            hint = "internal"
            ttl = "30s"
            uid = 1000
            jwt_ttl = "2m"

            [[identity]]
            spiffe_id = "spiffe://example.org/db"
        "#;
        let config = AgentConfig::from_toml_str(text).unwrap();

        assert_eq!(config.socket(), Some(Path::new("/tmp/a.sock")));
        assert!(config.intermediate);
        let web = Identity::new("spiffe://example.org/web")
            .with_hint("internal")
            .with_ttl(Duration::from_secs(30))
            .with_jwt_ttl(Duration::from_secs(120))
            .with_uid(1000);
        assert_eq!(
            config.identities(),
            &[web, Identity::new("spiffe://example.org/db")]
        );
    }

    #[test]
    fn config_errors_name_the_problem() {
        let cases = [
            ("trust_domian = \"x\"", "unknown field"),
            ("intermediate = \"yes\"", "invalid type"),
            (
                "[[identity]]\nspiffe_id = \"spiffe://e/a\"\nttl = \"30\"",
                "needs a unit",
            ),
            ("[[identity]]\nhint = \"h\"", "missing field"),
            ("trust_domain = ", "invalid"),
        ];
        for (text, expected) in cases {
            let err = AgentConfig::from_toml_str(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn jwt_algorithm_is_read_by_its_registered_name() {
        let config = AgentConfig::from_toml_str("jwt_algorithm = \"RS256\"").unwrap();
        assert_eq!(config.jwt_algorithm, Some(JwsAlgorithm::Rs256));
        for bad in ["HS256", "none", "es256", ""] {
            let text = format!("jwt_algorithm = {bad:?}");
            let err = AgentConfig::from_toml_str(&text).unwrap_err().to_string();
            assert!(
                err.contains("is not one of ES256") || err.contains("RS256, RS384"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn missing_config_file_is_an_io_error() {
        let err = AgentConfig::from_file(Path::new("/nonexistent/agent.toml")).unwrap_err();
        assert!(matches!(err, DevAgentError::Io { .. }), "{err:?}");
    }
}
