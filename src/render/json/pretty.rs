//! The serializer beneath every document twtune prints as JSON: serde_json's
//! pretty layout (two spaces a level), byte for byte, with every control
//! character escaped in strings.
//!
//! Written by hand because no crate gives both. serde_json lays the document
//! out through its `Formatter`, but escapes strings itself, one byte at a
//! time through a table (about seven instructions a byte), with no hook to
//! do it otherwise; a document of 100,000 persisted settings holds 1.1
//! million strings, and that loop was 38 % of its `check --format json`
//! (issue 20 §2). Here a string is looked at eight bytes at a time, and DEL,
//! the C1 controls and U+2028/U+2029 are escaped in the same pass (they were
//! a second pass over serde_json's output). sonic-rs and simd-json escape
//! quickly too, but bring tens of crates and format numbers their own way.
//!
//! Everything but strings and layout — numbers, `null`, `true`, `false` — is
//! written by serde_json itself, so they read as they always have; the tests
//! hold the whole to serde_json's `to_string_pretty`.

use std::io::Write;

use serde::Serialize;
use serde::ser::{self, Error as _};

type Result<T> = serde_json::Result<T>;

/// How much text is gathered before it is handed to the writer.
const FLUSH_AT: usize = 32 * 1024;

/// `value` as pretty JSON on `out`, its lines after the first indented
/// `levels` deep (a value inside a document written around it).
pub fn write<W: Write, T: Serialize + ?Sized>(out: W, value: &T, levels: usize) -> Result<()> {
    let mut pretty = Pretty {
        out,
        buf: Vec::with_capacity(FLUSH_AT + 4096),
        indent: levels,
    };
    value.serialize(&mut pretty)?;
    pretty.flush()
}

struct Pretty<W> {
    out: W,
    buf: Vec<u8>,
    indent: usize,
}

/// A line break and the indentation of the deepest levels most documents
/// reach, written in one piece.
const BREAK: &[u8; 1 + 2 * 32] =
    b"\n                                                                ";

impl<W: Write> Pretty<W> {
    /// The text gathered so far, handed to the writer.
    fn hand_over(&mut self) -> Result<()> {
        self.out
            .write_all(&self.buf)
            .map_err(serde_json::Error::io)?;
        self.buf.clear();
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.hand_over()?;
        self.out.flush().map_err(serde_json::Error::io)
    }

    fn flush_if_full(&mut self) -> Result<()> {
        match self.buf.len() >= FLUSH_AT {
            true => self.hand_over(),
            false => Ok(()),
        }
    }

    fn new_line(&mut self) {
        match 1 + 2 * self.indent {
            // The whole break, then the end cut off: a copy of a known
            // length is a few moves, where one of `end` bytes is a call.
            end if end <= BREAK.len() => {
                let len = self.buf.len();
                self.buf.extend_from_slice(BREAK);
                self.buf.truncate(len + end);
            }
            _ => {
                self.buf.push(b'\n');
                for _ in 0..self.indent {
                    self.buf.extend_from_slice(b"  ");
                }
            }
        }
    }

    /// `[` or `{`: a container whose elements go a level deeper.
    fn open(&mut self, bracket: u8) {
        self.indent += 1;
        self.buf.push(bracket);
    }

    /// Before each element or key: `,` after the previous one, a new line.
    fn element(&mut self, first: bool) -> Result<()> {
        self.flush_if_full()?;
        if !first {
            self.buf.push(b',');
        }
        self.new_line();
        Ok(())
    }

    /// `]` or `}`, on a line of its own unless the container is empty.
    fn close(&mut self, bracket: u8, empty: bool) {
        self.indent -= 1;
        if !empty {
            self.new_line();
        }
        self.buf.push(bracket);
    }

    /// A scalar as serde_json writes it (numbers, `null`, booleans).
    fn scalar<T: Serialize>(&mut self, value: T) -> Result<()> {
        serde_json::to_writer(&mut self.buf, &value)
    }

    fn string(&mut self, text: &str) {
        self.buf.push(b'"');
        escape(&mut self.buf, text);
        self.buf.push(b'"');
    }

    /// An array or object opened, to be written element by element.
    fn container(&mut self, bracket: u8, in_variant: bool) -> Compound<'_, W> {
        self.open(bracket);
        Compound {
            ser: self,
            empty: true,
            in_variant,
        }
    }

    /// The `{"variant": ` an externally tagged enum's data sits in.
    fn open_variant(&mut self, variant: &str) -> Result<()> {
        self.open(b'{');
        self.element(true)?;
        self.string(variant);
        self.buf.extend_from_slice(b": ");
        Ok(())
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes of `word` may need escaping: a C0 control,
/// `"`, `\`, DEL or any byte of a non-ASCII character (most of which are
/// written as they are, but C1 and U+2028/U+2029 start with such a byte).
/// Each test is exact as a whole: it is non-zero only when some byte
/// matches (the borrow that spoils the per-byte result only ever runs past
/// a byte that matched).
#[inline]
fn needs_a_look(word: u64) -> bool {
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
    // Bit 7 set, or the low seven bits all set (DEL); no carry leaves a byte.
    let del_or_high = (((word & !HIGHS) + ONES) | word) & HIGHS;
    control | quote | backslash | del_or_high != 0
}

/// `text`'s JSON string contents appended to `out`: `"`, `\` and the C0
/// controls as serde_json escapes them (`\n`, `\t`… or `\u00XX`), and DEL,
/// the C1 controls, U+2028 and U+2029 as `\u007f`, `\u0080`…`\u009f`,
/// `\u2028`, `\u2029`: a terminal may obey C1 (CSI is U+009B), and the last
/// two break lines in many viewers.
#[inline]
fn escape(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    match plain(bytes) {
        true => out.extend_from_slice(bytes),
        false => escape_each(out, bytes),
    }
}

/// [`escape`] of a string that holds something to escape, byte by byte.
#[inline(never)]
fn escape_each(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut run = 0;
    let mut at = 0;
    while at < bytes.len() {
        let (escaped, len): (&[u8], usize) = match bytes[at] {
            b'"' => (b"\\\"", 1),
            b'\\' => (b"\\\\", 1),
            b'\n' => (b"\\n", 1),
            b'\t' => (b"\\t", 1),
            b'\r' => (b"\\r", 1),
            0x08 => (b"\\b", 1),
            0x0c => (b"\\f", 1),
            c @ (0..0x20 | 0x7f) => (&hex_escape(0, c), 1),
            0xc2 if matches!(bytes.get(at + 1), Some(0x80..=0x9f)) => {
                (&hex_escape(0, bytes[at + 1]), 2)
            }
            0xe2 if bytes.get(at + 1) == Some(&0x80)
                && matches!(bytes.get(at + 2), Some(0xa8 | 0xa9)) =>
            {
                (&hex_escape(0x20, bytes[at + 2] - 0x80), 3)
            }
            _ => {
                at += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[run..at]);
        out.extend_from_slice(escaped);
        at += len;
        run = at;
    }
    out.extend_from_slice(&bytes[run..]);
}

/// Whether `bytes` is printable ASCII without `"` or `\\`: written as it is.
/// Almost every string of a document is; it is looked at eight bytes at a
/// time (the last eight, or two fours, overlapping what was looked at).
#[inline]
fn plain(bytes: &[u8]) -> bool {
    let len = bytes.len();
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
    let half = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
    match len {
        8.. => {
            let mut at = 0;
            while at + 8 < len {
                if needs_a_look(word(at)) {
                    return false;
                }
                at += 8;
            }
            !needs_a_look(word(len - 8))
        }
        4..8 => !needs_a_look(u64::from(half(0)) | u64::from(half(len - 4)) << 32),
        _ => bytes.iter().all(|&b| PLAIN[usize::from(b)]),
    }
}

/// The bytes [`plain`] passes: ` ` to `~` but `"` and `\`.
const PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x20;
    while b < 0x7f {
        table[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    table
};

/// `\uHHLL`, in serde_json's lower-case hex.
fn hex_escape(high: u8, low: u8) -> [u8; 6] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    [
        b'\\',
        b'u',
        HEX[usize::from(high >> 4)],
        HEX[usize::from(high & 0xf)],
        HEX[usize::from(low >> 4)],
        HEX[usize::from(low & 0xf)],
    ]
}

/// A container being written: whether it has an element yet, and whether
/// it is an enum variant's data, closed by the `}` of its `{"variant": …}`.
pub struct Compound<'a, W> {
    ser: &'a mut Pretty<W>,
    empty: bool,
    in_variant: bool,
}

impl<W: Write> Compound<'_, W> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.ser.element(self.empty)?;
        self.empty = false;
        value.serialize(&mut *self.ser)
    }

    fn entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<()> {
        self.key(key)?;
        self.value(value)
    }

    fn key<K: Serialize + ?Sized>(&mut self, key: &K) -> Result<()> {
        self.ser.element(self.empty)?;
        self.empty = false;
        key.serialize(MapKey(&mut *self.ser))
    }

    fn value<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<()> {
        self.ser.buf.extend_from_slice(b": ");
        value.serialize(&mut *self.ser)
    }

    fn end(self, bracket: u8) -> Result<()> {
        self.ser.close(bracket, self.empty);
        if self.in_variant {
            self.ser.close(b'}', false);
        }
        Ok(())
    }
}

/// The numbers and booleans of a serializer, each written by `$how`.
macro_rules! scalars {
    ($how:ident: $($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method(self, v: $ty) -> Result<()> {
            self.$how(v)
        }
    )*};
}

impl<'a, W: Write> ser::Serializer for &'a mut Pretty<W> {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = Compound<'a, W>;
    type SerializeTuple = Compound<'a, W>;
    type SerializeTupleStruct = Compound<'a, W>;
    type SerializeTupleVariant = Compound<'a, W>;
    type SerializeMap = Compound<'a, W>;
    type SerializeStruct = Compound<'a, W>;
    type SerializeStructVariant = Compound<'a, W>;

    scalars!(scalar: serialize_bool(bool), serialize_i8(i8), serialize_i16(i16),
        serialize_i32(i32), serialize_i64(i64), serialize_i128(i128), serialize_u8(u8),
        serialize_u16(u16), serialize_u32(u32), serialize_u64(u64), serialize_u128(u128),
        serialize_f32(f32), serialize_f64(f64));
    fn serialize_char(self, v: char) -> Result<()> {
        self.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<()> {
        self.string(v);
        Ok(())
    }
    /// As serde_json: an array of numbers.
    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for byte in v {
            seq.serialize_element(byte)?;
        }
        ser::SerializeSeq::end(seq)
    }
    fn serialize_none(self) -> Result<()> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<()> {
        self.buf.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<()> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        self.open_variant(variant)?;
        value.serialize(&mut *self)?;
        self.close(b'}', false);
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, W>> {
        Ok(self.container(b'[', false))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, W>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Compound<'a, W>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, W>> {
        self.open_variant(variant)?;
        Ok(self.container(b'[', true))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, W>> {
        Ok(self.container(b'{', false))
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Compound<'a, W>> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, W>> {
        self.open_variant(variant)?;
        Ok(self.container(b'{', true))
    }
}

/// serde has a trait for each kind of container; the sequences all write
/// an array, the structs an object.
macro_rules! containers {
    ($($container:ident::$add:ident => $how:ident, $bracket:literal;)*) => {$(
        impl<W: Write> ser::$container for Compound<'_, W> {
            type Ok = ();
            type Error = serde_json::Error;
            containers!(@add $add, $how);
            fn end(self) -> Result<()> {
                Compound::end(self, $bracket)
            }
        }
    )*};
    (@add $add:ident, element) => {
        fn $add<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
            self.element(value)
        }
    };
    (@add $add:ident, entry) => {
        fn $add<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
            self.entry(key, value)
        }
    };
}

containers! {
    SerializeSeq::serialize_element => element, b']';
    SerializeTuple::serialize_element => element, b']';
    SerializeTupleStruct::serialize_field => element, b']';
    SerializeTupleVariant::serialize_field => element, b']';
    SerializeStruct::serialize_field => entry, b'}';
    SerializeStructVariant::serialize_field => entry, b'}';
}

impl<W: Write> ser::SerializeMap for Compound<'_, W> {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.value(value)
    }
    fn end(self) -> Result<()> {
        Compound::end(self, b'}')
    }
}

/// An object's key, which JSON makes a string: as serde_json, strings and
/// the names of unit variants as they are, numbers and booleans quoted,
/// anything else an error.
struct MapKey<'a, W>(&'a mut Pretty<W>);

fn key_must_be_a_string() -> serde_json::Error {
    serde_json::Error::custom("key must be a string")
}

impl<W: Write> MapKey<'_, W> {
    fn quoted<T: Serialize>(self, value: T) -> Result<()> {
        self.0.buf.push(b'"');
        self.0.scalar(value)?;
        self.0.buf.push(b'"');
        Ok(())
    }
}

impl<W: Write> ser::Serializer for MapKey<'_, W> {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = ser::Impossible<(), serde_json::Error>;
    type SerializeTuple = ser::Impossible<(), serde_json::Error>;
    type SerializeTupleStruct = ser::Impossible<(), serde_json::Error>;
    type SerializeTupleVariant = ser::Impossible<(), serde_json::Error>;
    type SerializeMap = ser::Impossible<(), serde_json::Error>;
    type SerializeStruct = ser::Impossible<(), serde_json::Error>;
    type SerializeStructVariant = ser::Impossible<(), serde_json::Error>;

    fn serialize_str(self, v: &str) -> Result<()> {
        self.0.string(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<()> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<()> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }
    scalars!(quoted: serialize_bool(bool), serialize_i8(i8), serialize_i16(i16),
        serialize_i32(i32), serialize_i64(i64), serialize_i128(i128), serialize_u8(u8),
        serialize_u16(u16), serialize_u32(u32), serialize_u64(u64), serialize_u128(u128));
    fn serialize_f32(self, v: f32) -> Result<()> {
        match v.is_finite() {
            true => self.quoted(v),
            false => Err(serde_json::Error::custom("float key must be finite")),
        }
    }
    fn serialize_f64(self, v: f64) -> Result<()> {
        match v.is_finite() {
            true => self.quoted(v),
            false => Err(serde_json::Error::custom("float key must be finite")),
        }
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<()> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<()> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result<()> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<()> {
        Err(key_must_be_a_string())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<()> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests;
