//! Reading the TOML file: every settings area takes its own keys from the
//! whole document, and a top-level key that no area takes is refused,
//! naming the keys there are, at the key's line.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

/// A TOML document being read area by area.
pub(crate) struct Document<'a> {
    text: &'a str,
    keys: Vec<&'static str>,
}

impl<'a> Document<'a> {
    /// The document `text`, none of it read yet.
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            text,
            keys: Vec::new(),
        }
    }

    /// One area's settings: the keys it declares, the others left to the
    /// other areas.
    pub(crate) fn area<T: DeserializeOwned>(&mut self) -> Result<T, toml::de::Error> {
        self.keys.extend_from_slice(keys_of::<T>());
        toml::from_str(self.text)
    }

    /// Refuses the top-level keys that no area read.
    pub(crate) fn finish(self) -> Result<(), toml::de::Error> {
        KnownKeys(&self.keys).deserialize(toml::Deserializer::parse(self.text)?)
    }
}

/// The keys a struct with a derived `Deserialize` reads: it names them when
/// it asks its deserializer for a struct.
pub(crate) fn keys_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut keys: &'static [&'static str] = &[];
    // The request always "fails": only the names it carried are wanted.
    let _ = T::deserialize(KeyNames(&mut keys));
    keys
}

/// A deserializer that only notes the field names of the struct asked for.
struct KeyNames<'k>(&'k mut &'static [&'static str]);

impl<'de> serde::Deserializer<'de> for KeyNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only a struct names its keys"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("keys noted"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// Walks the document's top-level keys, refusing any not in the list.
struct KnownKeys<'k>(&'k [&'static str]);

impl<'de> DeserializeSeed<'de> for KnownKeys<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KnownKeys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of settings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // The key is checked while it is read, so the error points at it.
        while map.next_key_seed(KnownKey(self.0))?.is_some() {
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// One top-level key, refused (as serde words it) unless in the list.
struct KnownKey<'k>(&'k [&'static str]);

impl<'de> DeserializeSeed<'de> for KnownKey<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let key = <String as serde::Deserialize>::deserialize(deserializer)?;
        if self.0.contains(&key.as_str()) {
            return Ok(());
        }
        let expected = self
            .0
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        Err(de::Error::custom(format_args!(
            "unknown field `{key}`, expected one of {expected}"
        )))
    }
}
