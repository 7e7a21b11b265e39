//! A Kubernetes release as `--k8s-version` takes it. Its own module, free of
//! the rest of the crate, because build.rs compiles the command line (cli.rs)
//! to render the man page and completions, and cli.rs parses this type.

use std::fmt;

/// A Kubernetes minor release (`1.29`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct K8sVersion {
    pub major: u32,
    pub minor: u32,
}

impl K8sVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        K8sVersion { major, minor }
    }

    /// The first release whose safe list twtune knows: pod sysctls went GA in
    /// 1.21. Older clusters are refused rather than guessed at.
    pub const OLDEST_KNOWN: K8sVersion = K8sVersion::new(1, 21);
    /// The release that last changed the safe list (tcp_slow_start_after_idle,
    /// tcp_notsent_lowat; see apply::kubernetes for what was verified); later
    /// releases keep it, so it is the default.
    pub const NEWEST_LIST_CHANGE: K8sVersion = K8sVersion::new(1, 37);

    /// Parses `1.29`, `v1.29` or `1.29.3` (the patch release does not change the list).
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let bare = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let mut parts = bare.split('.');
        let number = |part: Option<&str>| -> Option<u32> {
            let part = part?;
            (!part.is_empty() && part.len() <= 4 && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse().ok())
                .flatten()
        };
        let (Some(major), Some(minor)) = (number(parts.next()), number(parts.next())) else {
            return Err(format!(
                "{text:?} is not a Kubernetes version like 1.29 or v1.29.3"
            ));
        };
        match parts.next() {
            None => {}
            Some(patch) if number(Some(patch)).is_some() && parts.next().is_none() => {}
            Some(_) => {
                return Err(format!(
                    "{text:?} is not a Kubernetes version like 1.29 or v1.29.3"
                ));
            }
        }
        let version = K8sVersion { major, minor };
        if version < Self::OLDEST_KNOWN {
            return Err(format!(
                "Kubernetes {version}: twtune knows the kubelet's safe sysctls from {} on (pod sysctls went GA there)",
                Self::OLDEST_KNOWN
            ));
        }
        Ok(version)
    }
}

impl fmt::Display for K8sVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_27: K8sVersion = K8sVersion::new(1, 27);
    const V1_29: K8sVersion = K8sVersion::new(1, 29);

    #[test]
    fn versions_parse_the_ways_kubectl_prints_them() {
        assert_eq!(K8sVersion::parse("1.29"), Ok(V1_29));
        assert_eq!(K8sVersion::parse("v1.29.3"), Ok(V1_29));
        assert_eq!(K8sVersion::parse(" 1.27 "), Ok(V1_27));
        for bad in [
            "", "1", "1.", "1.x", "v", "1.29.3.4", "1.29-rc1", "99999.1", "1.20",
        ] {
            assert!(K8sVersion::parse(bad).is_err(), "{bad:?}");
        }
    }
}
