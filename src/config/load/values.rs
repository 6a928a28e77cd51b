//! The scalar shapes config values are read into before they are checked: text (numbers and
//! booleans as written), flags, and "one or a list". Shape only; what a value means is checked
//! by the section's own file.
//!
//! Must not: quote a value in an error (serde's `Unexpected::Str` would put it in the message).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A scalar read as text. YAML numbers and booleans are accepted as written, so `timeout: 10`
/// reaches the duration check and its hint instead of a bare type error.
pub(super) struct Text(pub(super) String);

/// A boolean; also `"true"`/`"false"` strings, which is what `${VAR}` substitution produces.
pub(super) struct Flag(pub(super) bool);

/// A scalar or a list of scalars (`secret: x` or `secret: [x, y]`); the list form's problems
/// carry the index (`session.secret[1]`).
pub(super) enum OneOrList {
    One(Text),
    List(Vec<Text>),
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagVisitor;
        impl Visitor<'_> for FlagVisitor {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
                match v.trim() {
                    "true" => Ok(Flag(true)),
                    "false" => Ok(Flag(false)),
                    // No `Unexpected::Str`: it would quote the value into the message.
                    _ => Err(E::custom("expected true or false")),
                }
            }
        }
        deserializer.deserialize_any(FlagVisitor)
    }
}

impl<'de> Deserialize<'de> for OneOrList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrListVisitor;
        impl<'de> Visitor<'de> for OneOrListVisitor {
            type Value = OneOrList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrList, E> {
                Ok(OneOrList::One(Text(v.to_owned())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OneOrList, E> {
                Ok(OneOrList::One(Text(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OneOrList, E> {
                Ok(OneOrList::One(Text(v.to_string())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrList, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Text>()? {
                    items.push(item);
                }
                Ok(OneOrList::List(items))
            }
        }
        deserializer.deserialize_any(OneOrListVisitor)
    }
}

impl OneOrList {
    /// Each entry with its key path: `key` for the scalar form, `key[i]` for the list form.
    pub(super) fn keyed(self, key: &str) -> Vec<(String, String)> {
        match self {
            OneOrList::One(Text(value)) => vec![(key.to_owned(), value)],
            OneOrList::List(items) => items
                .into_iter()
                .enumerate()
                .map(|(index, Text(value))| (format!("{key}[{index}]"), value))
                .collect(),
        }
    }
}
