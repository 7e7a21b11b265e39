//! `settings[]` as JSON: a file's name, shared by all of its settings, is
//! escaped by serde_json once per file and written as it came out, not once
//! per setting (a file can hold 100,000 settings; its name was a tenth of
//! the document's escaping).

use arcstr::ArcStr;
use serde::ser::{Error, Serialize, SerializeSeq, SerializeStruct, Serializer};
use serde_json::value::RawValue;

use super::Setting;

/// The settings as the derived `Serialize` of `[Setting]` writes them.
pub struct SettingsJson<'a>(pub &'a [Setting]);

impl Serialize for SettingsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        let mut file: Option<(&ArcStr, Box<RawValue>)> = None;
        for setting in self.0 {
            let same = file
                .as_ref()
                .is_some_and(|(name, _)| ArcStr::ptr_eq(name, &setting.file));
            if !same {
                let rendered = serde_json::value::to_raw_value(setting.file.as_str())
                    .map_err(S::Error::custom)?;
                file = Some((&setting.file, rendered));
            }
            if let Some((_, rendered)) = &file {
                seq.serialize_element(&WithFile {
                    setting,
                    file: rendered,
                })?;
            }
        }
        seq.end()
    }
}

/// One [`Setting`], its fields in the derived order, its file rendered.
struct WithFile<'a> {
    setting: &'a Setting,
    file: &'a RawValue,
}

impl Serialize for WithFile<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.setting;
        let mut out = serializer.serialize_struct("Setting", 6)?;
        out.serialize_field("key", &s.key)?;
        out.serialize_field("value", &s.value)?;
        out.serialize_field("file", self.file)?;
        out.serialize_field("line", &s.line)?;
        out.serialize_field("ignore_failure", &s.ignore_failure)?;
        out.serialize_field("at_boot", &s.at_boot)?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::persisted::parse_sysctl_file;

    #[test]
    fn settings_are_written_as_their_derived_serialize_writes_them() {
        let mut settings = Vec::new();
        for (file, text) in [
            (
                "/etc/sysctl.d/10-a.conf",
                "net.ipv4.tcp_tw_reuse = 1\n-net.ipv4.ip_forward=0\n",
            ),
            // A name to escape: a quote, a backslash, a control, DEL, C1, U+2028.
            (
                "/etc/sysctl.d/\"q\\\u{1b}\u{7f}\u{85}\u{2028}ü.conf",
                "a.b = x  y\n",
            ),
            (
                "/etc/sysctl.conf",
                "net.core.somaxconn = 4096\nnet.ipv4.tcp_fin_timeout = 30\n",
            ),
        ] {
            settings.extend(parse_sysctl_file(file, text).0);
        }
        settings[4].at_boot = false;
        for few in [&settings[..0], &settings[..1], &settings[..]] {
            assert_eq!(
                serde_json::to_string(&SettingsJson(few)).unwrap(),
                serde_json::to_string(few).unwrap()
            );
            assert_eq!(
                crate::render::json::to_string_pretty(&SettingsJson(few)).unwrap(),
                crate::render::json::to_string_pretty(few).unwrap()
            );
        }
    }
}
