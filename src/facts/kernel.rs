//! The running kernel's release string and the version it encodes.
//!
//! Version-dependent rules need major.minor.patch; vendor suffixes
//! ("-1160.el7.x86_64", "+", "-fc-v657") are kept in the release but ignored
//! for comparisons. A release that does not start with `N.N` is not guessed at.

use schemars::JsonSchema;
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KernelVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        KernelVersion {
            major,
            minor,
            patch,
        }
    }

    /// Parses the leading `MAJOR.MINOR[.PATCH]` of a release string.
    pub fn parse_release(release: &str) -> Option<Self> {
        let mut numbers = [0u32; 3];
        let mut rest = release.trim();
        for (i, slot) in numbers.iter_mut().enumerate() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                // MAJOR and MINOR are required; PATCH is optional ("5.4-foo").
                return if i >= 2 {
                    Some(Self::from(numbers))
                } else {
                    None
                };
            }
            *slot = rest[..digits].parse().ok()?;
            rest = &rest[digits..];
            if i < 2 {
                match rest.strip_prefix('.') {
                    Some(after) => rest = after,
                    None if i == 1 => return Some(Self::from(numbers)),
                    None => return None,
                }
            }
        }
        Some(Self::from(numbers))
    }
}

impl From<[u32; 3]> for KernelVersion {
    fn from([major, minor, patch]: [u32; 3]) -> Self {
        KernelVersion::new(major, minor, patch)
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What `twtune` knows of the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct KernelFacts {
    /// `proc/sys/kernel/osrelease`, trimmed; None when the file is missing.
    pub release: Option<String>,
    /// None when the release is missing or does not parse: rules that depend on
    /// it report "unknown" instead of guessing.
    pub version: Option<KernelVersion>,
}

impl KernelFacts {
    pub fn from_release(release: Option<&str>) -> Self {
        let release = release.map(|r| r.trim().to_string());
        let version = release.as_deref().and_then(KernelVersion::parse_release);
        KernelFacts { release, version }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Option<String> {
        KernelVersion::parse_release(s).map(|v| v.to_string())
    }

    #[test]
    fn distribution_release_strings_parse() {
        assert_eq!(v("3.10.0-1160.el7.x86_64").as_deref(), Some("3.10.0"));
        assert_eq!(v("4.15.0-213-generic").as_deref(), Some("4.15.0"));
        assert_eq!(v("5.15.0-91-generic").as_deref(), Some("5.15.0"));
        assert_eq!(v("6.18.44-fc-v657").as_deref(), Some("6.18.44"));
        assert_eq!(v("4.19.0+").as_deref(), Some("4.19.0"));
        assert_eq!(v("6.1.0-13-amd64\n").as_deref(), Some("6.1.0"));
        assert_eq!(v("5.4").as_deref(), Some("5.4.0"));
        assert_eq!(v("6.8-rc1").as_deref(), Some("6.8.0"));
    }

    #[test]
    fn garbage_is_not_guessed_at() {
        assert_eq!(v(""), None);
        assert_eq!(v("linux"), None);
        assert_eq!(v("v5.4.0"), None);
        assert_eq!(v("5"), None);
        assert_eq!(v("5."), None);
        assert_eq!(v("99999999999.1"), None);
    }

    #[test]
    fn versions_order_numerically() {
        assert!(KernelVersion::new(4, 9, 0) < KernelVersion::new(4, 12, 0));
        assert!(KernelVersion::new(6, 18, 44) > KernelVersion::new(6, 14, 0));
    }
}
