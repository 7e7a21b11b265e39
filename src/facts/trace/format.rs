//! The layout of a tracepoint's record, from tracefs
//! `events/<system>/<name>/format`.
//!
//! Field offsets differ between kernel versions and configurations (the
//! common header grew and shrank over the years; `inet_sock_set_state`
//! gained `protocol` in 4.16), so they are read from the kernel that runs,
//! never compiled in. The parser takes the text, so it is tested on format
//! files copied from a real kernel.

use std::collections::HashMap;

/// One field of a tracepoint record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub offset: usize,
    pub size: usize,
    pub signed: bool,
}

/// A tracepoint's id and the fields of its record, by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Format {
    pub name: String,
    pub id: u64,
    pub fields: HashMap<String, Field>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("no ID line")]
    NoId,
    #[error("no field {0:?}")]
    NoField(String),
    #[error("field {name:?} is {size} bytes, expected {expected}")]
    FieldSize {
        name: String,
        size: usize,
        expected: String,
    },
}

impl Format {
    /// A field the decoder needs, checked to have one of the sizes it reads.
    pub fn field(&self, name: &str, sizes: &[usize]) -> Result<Field, FormatError> {
        let field = self
            .fields
            .get(name)
            .ok_or_else(|| FormatError::NoField(name.to_string()))?;
        if !sizes.contains(&field.size) {
            return Err(FormatError::FieldSize {
                name: name.to_string(),
                size: field.size,
                expected: format!("{sizes:?}"),
            });
        }
        Ok(field.clone())
    }
}

/// Parses a tracefs `format` file.
pub fn parse(text: &str) -> Result<Format, FormatError> {
    let mut format = Format::default();
    let mut id = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let bad = |message: String| FormatError::Line {
            line: index + 1,
            message,
        };
        if let Some(name) = line.strip_prefix("name:") {
            format.name = name.trim().to_string();
        } else if let Some(value) = line.strip_prefix("ID:") {
            id = Some(
                value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| bad(format!("ID {:?} is not a number", value.trim())))?,
            );
        } else if line.starts_with("field:") {
            let (name, field) = parse_field(line).map_err(bad)?;
            format.fields.insert(name, field);
        } else if line.starts_with("print fmt:") {
            // The rest is the print format, which may contain anything.
            break;
        }
    }
    format.id = id.ok_or(FormatError::NoId)?;
    Ok(format)
}

/// `field:__u8 saddr[4];<TAB>offset:32;<TAB>size:4;<TAB>signed:0;` → ("saddr", …).
fn parse_field(line: &str) -> Result<(String, Field), String> {
    let mut decl = None;
    let (mut offset, mut size, mut signed) = (None, None, None);
    for part in line.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once(':')
            .ok_or_else(|| format!("{part:?} is not key:value"))?;
        let number = || {
            value
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("{key} {:?} is not a number", value.trim()))
        };
        match key.trim() {
            "field" => decl = Some(value.trim()),
            "offset" => offset = Some(number()?),
            "size" => size = Some(number()?),
            "signed" => signed = Some(number()? != 0),
            // Newer kernels may add keys; they do not move the field.
            _ => {}
        }
    }
    let decl = decl.ok_or("no field declaration")?;
    // The name is the declaration's last word, without an array suffix:
    // `const void * skaddr`, `__u8 saddr_v6[16]`, `__data_loc char[] name`.
    let last = decl
        .rsplit(|c: char| c.is_whitespace() || c == '*')
        .next()
        .unwrap_or("");
    let name = last.split('[').next().unwrap_or("").to_string();
    if name.is_empty() {
        return Err(format!("no field name in {decl:?}"));
    }
    let (Some(offset), Some(size)) = (offset, size) else {
        return Err(format!("field {name} has no offset or size"));
    };
    if offset.checked_add(size).is_none() {
        return Err(format!("field {name} ends past any record"));
    }
    Ok((
        name,
        Field {
            offset,
            size,
            signed: signed.unwrap_or(false),
        },
    ))
}

/// Reads an unsigned little- or native-endian integer field from a raw
/// record; `None` when the record is too short for it.
pub fn read_uint(raw: &[u8], field: &Field) -> Option<u64> {
    let bytes = raw.get(field.offset..field.offset.checked_add(field.size)?)?;
    Some(match field.size {
        1 => u64::from(bytes[0]),
        2 => u64::from(u16::from_ne_bytes(bytes.try_into().ok()?)),
        4 => u64::from(u32::from_ne_bytes(bytes.try_into().ok()?)),
        8 => u64::from_ne_bytes(bytes.try_into().ok()?),
        _ => return None,
    })
}

/// Reads a signed integer field, sign-extended from its size.
pub fn read_int(raw: &[u8], field: &Field) -> Option<i64> {
    let value = read_uint(raw, field)?;
    let bits = field.size * 8;
    Some(if bits >= 64 {
        value as i64
    } else {
        let shift = 64 - bits;
        ((value << shift) as i64) >> shift
    })
}

/// The bytes of an array field (addresses, `comm`).
pub fn read_bytes<'a>(raw: &'a [u8], field: &Field) -> Option<&'a [u8]> {
    raw.get(field.offset..field.offset.checked_add(field.size)?)
}

#[cfg(test)]
mod tests {
    use super::super::kernel_formats::{INET_SOCK_SET_STATE, SCHED_PROCESS_EXIT, SYS_EXIT_CONNECT};
    use super::*;

    #[test]
    fn parses_the_kernels_own_format_files() {
        let f = parse(INET_SOCK_SET_STATE).unwrap();
        assert_eq!((f.name.as_str(), f.id), ("inet_sock_set_state", 2287));
        assert_eq!(
            f.field("newstate", &[4]).unwrap(),
            Field {
                offset: 20,
                size: 4,
                signed: true
            }
        );
        assert_eq!(f.field("daddr_v6", &[16]).unwrap().offset, 56);
        assert_eq!(f.field("skaddr", &[8]).unwrap().offset, 8);
        assert_eq!(f.field("common_pid", &[4]).unwrap().offset, 4);
        let e = parse(SYS_EXIT_CONNECT).unwrap();
        assert_eq!(e.id, 2229);
        let ret = e.field("ret", &[4, 8]).unwrap();
        assert_eq!((ret.offset, ret.size, ret.signed), (16, 8, true));
        let x = parse(SCHED_PROCESS_EXIT).unwrap();
        assert_eq!(x.field("comm", &[16]).unwrap().offset, 8);
        assert_eq!(x.field("group_dead", &[1]).unwrap().offset, 32);
    }

    #[test]
    fn reads_fields_from_a_raw_record() {
        let e = parse(SYS_EXIT_CONNECT).unwrap();
        let ret = e.field("ret", &[8]).unwrap();
        let mut raw = vec![0u8; 24];
        raw[16..24].copy_from_slice(&(-99i64).to_ne_bytes());
        assert_eq!(read_int(&raw, &ret), Some(-99));
        // A 4-byte signed field sign-extends.
        let small = Field {
            offset: 0,
            size: 4,
            signed: true,
        };
        assert_eq!(read_int(&(-98i32).to_ne_bytes(), &small), Some(-98));
        // A record too short for the field reads nothing, never panics.
        assert_eq!(read_int(&raw[..20], &ret), None);
        let huge = Field {
            offset: usize::MAX,
            size: 8,
            signed: false,
        };
        assert_eq!(read_uint(&raw, &huge), None);
        assert_eq!(read_bytes(&raw, &huge), None);
    }

    #[test]
    fn garbled_format_files_are_errors_naming_the_line() {
        assert_eq!(parse("name: x\nformat:\n"), Err(FormatError::NoId));
        let err = parse("ID: 7\n\tfield:int a;\toffset:zz;\tsize:4;\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2: offset \"zz\" is not a number",
            "{err}"
        );
        let err = parse("ID: 7\n\tfield:int a;\tsize:4;\n").unwrap_err();
        assert!(err.to_string().contains("no offset"), "{err}");
        let err = parse(&format!(
            "ID: 7\n\tfield:int a;\toffset:{};\tsize:4;\n",
            usize::MAX
        ))
        .unwrap_err();
        assert!(err.to_string().contains("past any record"), "{err}");
        let f = parse("ID: x").unwrap_err();
        assert!(f.to_string().starts_with("line 1"), "{f}");
        let ok = parse("ID: 7\n").unwrap();
        assert_eq!(
            ok.field("ret", &[8]),
            Err(FormatError::NoField("ret".into()))
        );
        let sized = parse("ID: 7\n\tfield:int ret;\toffset:8;\tsize:4;\tsigned:1;\n").unwrap();
        assert!(matches!(
            sized.field("ret", &[8]),
            Err(FormatError::FieldSize { .. })
        ));
    }
}
