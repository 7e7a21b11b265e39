//! The writer is held to serde_json: whatever it writes must be what
//! `serde_json::to_string_pretty` writes, with DEL, C1 and U+2028/U+2029
//! escaped (which may appear only inside strings, so they are replaced in
//! serde_json's whole output).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::*;

/// serde_json's pretty output with the characters it leaves as they are
/// but this writer escapes, escaped.
fn expected<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value)
        .unwrap()
        .chars()
        .map(|c| match c {
            '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => format!("\\u{:04x}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

fn written<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    write(&mut out, value, 0).unwrap();
    String::from_utf8(out).unwrap()
}

#[track_caller]
fn same<T: Serialize + ?Sized>(value: &T) {
    assert_eq!(written(value), expected(value));
}

#[derive(Serialize)]
enum Kinds {
    Unit,
    Newtype(u8),
    EmptyTuple(),
    Tuple(i32, &'static str),
    EmptyStruct {},
    Struct { a: Option<u8>, b: Vec<u8> },
}

#[derive(Serialize)]
struct UnitStruct;

#[derive(Serialize)]
struct Newtype(&'static str);

#[derive(Serialize)]
struct TupleStruct(u8, (), UnitStruct);

#[derive(Serialize)]
struct Skips {
    kept: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<u8>,
    #[serde(flatten)]
    flattened: BTreeMap<String, u8>,
}

#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
enum KeyVariant {
    First,
    Second,
}

#[test]
fn every_kind_of_value_is_laid_out_as_serde_json_lays_it_out() {
    same(&json!(null));
    same(&json!({}));
    same(&json!([]));
    same(&json!({"a": [], "b": {}, "c": [[], [{}], {"d": []}]}));
    same(&json!([1, -2, 3.5, true, false, null, "x", [1, [2, [3]]]]));
    same(&json!({"nested": {"deeper": {"list": [{"k": "v"}, {}, []]}}}));
    for kind in [
        Kinds::Unit,
        Kinds::Newtype(7),
        Kinds::EmptyTuple(),
        Kinds::Tuple(-1, "t"),
        Kinds::EmptyStruct {},
        Kinds::Struct { a: None, b: vec![] },
        Kinds::Struct {
            a: Some(1),
            b: vec![1, 2],
        },
    ] {
        same(&kind);
        same(&vec![kind]);
    }
    same(&UnitStruct);
    same(&Newtype("n"));
    same(&TupleStruct(1, (), UnitStruct));
    same(&(1u8, "two", 3.0f32, 'c', '\u{85}'));
    same(&Skips {
        kept: 1,
        skipped: None,
        flattened: BTreeMap::from([("z".to_string(), 2), ("y".to_string(), 3)]),
    });
    same(&Skips {
        kept: 1,
        skipped: Some(4),
        flattened: BTreeMap::new(),
    });
    same(&Bytes(&[0u8, 1, 255]));
    same(&(
        i8::MIN,
        i16::MIN,
        i32::MIN,
        i64::MIN,
        i128::MIN,
        u8::MAX,
        u16::MAX,
        u32::MAX,
        u64::MAX,
        u128::MAX,
    ));
    same(&[
        0.0f64,
        -0.0,
        0.1,
        1e300,
        -1e-300,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ]);
    same(&[1.1f32, f32::NAN, f32::MAX, -0.5]);
}

/// A `serialize_bytes` value (serde_json writes an array of numbers).
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

#[test]
fn keys_are_strings_as_serde_json_makes_them() {
    same(&BTreeMap::from([(1u16, "a"), (65535, "b")]));
    same(&BTreeMap::from([(-5i64, 1), (7, 2)]));
    same(&BTreeMap::from([(u128::MAX, 1)]));
    same(&BTreeMap::from([(true, 1), (false, 2)]));
    same(&BTreeMap::from([('k', 1), ('\u{1b}', 2)]));
    same(&BTreeMap::from([
        (KeyVariant::First, 1),
        (KeyVariant::Second, 2),
    ]));
    same(&BTreeMap::from([("with \"quote\" \u{7f}", 1)]));
    let mut floats = serde_json::Map::new();
    floats.insert("x".into(), json!(1));
    same(&floats);
    // What serde_json refuses as a key, this refuses too.
    let refused = BTreeMap::from([((), 1)]);
    assert!(serde_json::to_string_pretty(&refused).is_err());
    assert!(write(Vec::new(), &refused, 0).is_err());
    let refused = BTreeMap::from([(vec![1], 1)]);
    assert!(serde_json::to_string_pretty(&refused).is_err());
    assert!(write(Vec::new(), &refused, 0).is_err());
}

/// Every character that is escaped, and its neighbours that are not (same
/// lead byte, next code point), at every offset around the eight-byte
/// steps, alone and in pairs.
#[test]
fn every_escaped_character_is_escaped_wherever_it_falls() {
    let mut specials: Vec<char> = (0u8..0x20).map(char::from).collect();
    specials.extend([
        '"', '\\', '/', '\u{7f}', '\u{80}', '\u{85}', '\u{9b}', '\u{9f}', '\u{a0}', '¡', 'Â', 'ł',
        'é', '\u{2027}', '\u{2028}', '\u{2029}', '\u{202a}', '€', '😀', '~', ' ', 'a',
    ]);
    for &special in &specials {
        for before in 0..18 {
            for after in [0, 1, 7, 8, 9] {
                let text = format!("{}{special}{}", "p".repeat(before), "q".repeat(after));
                same(&text);
                same(&json!({ text.clone(): [text] }));
            }
        }
        for &other in &specials {
            same(&format!("{special}{other}abcdefg{other}{special}"));
        }
    }
}

/// Strings drawn from a pool of plain, escaped and multi-byte characters.
#[test]
fn random_strings_are_escaped_as_serde_json_escapes_them() {
    let pool: Vec<char> = "abcXYZ09 .-_/\"\\\n\t\r\u{0}\u{1b}\u{7f}\u{80}\u{85}\u{9f}\u{a0}é€\u{2028}\u{2029}\u{2027}😀"
        .chars()
        .collect();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let len = (next() % 40) as usize;
        let text: String = (0..len)
            .map(|_| pool[(next() % pool.len() as u64) as usize])
            .collect();
        same(&text);
    }
}

#[test]
fn a_value_inside_a_document_is_indented_at_its_depth() {
    let value = json!({"a": [1, {"b": "c"}], "d": {}, "e": []});
    for levels in [0, 1, 2, 40] {
        let mut out = Vec::new();
        write(&mut out, &value, levels).unwrap();
        let pad = "  ".repeat(levels);
        let expected = serde_json::to_string_pretty(&value)
            .unwrap()
            .replace('\n', &format!("\n{pad}"));
        assert_eq!(String::from_utf8(out).unwrap(), expected, "{levels}");
    }
}

#[test]
fn deep_and_long_documents_come_out_whole() {
    // Deeper than the line breaks written in one piece.
    let mut deep = json!("bottom");
    for n in 0..70 {
        deep = match n % 2 {
            0 => json!([deep, n]),
            _ => json!({ "level": deep }),
        };
    }
    same(&deep);
    // Longer than one hand-over to the writer, through a writer that takes
    // a few bytes at a time.
    let long: Vec<String> = (0..20_000).map(|n| format!("entry {n} \u{85}")).collect();
    let mut out = Dribble(Vec::new());
    write(&mut out, &long, 0).unwrap();
    assert_eq!(String::from_utf8(out.0).unwrap(), expected(&long));
}

/// A writer that accepts at most seven bytes a call.
struct Dribble(Vec<u8>);

impl Write for Dribble {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let n = bytes.len().min(7);
        self.0.extend_from_slice(&bytes[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_writer_is_an_error() {
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let error = write(Broken, &json!({"a": 1}), 0).unwrap_err();
    assert!(error.is_io(), "{error}");
}
