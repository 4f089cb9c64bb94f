//! Objects that remember the order their keys were inserted in, as JavaScript's do.

use std::collections::BTreeMap;
use std::fmt;

use crate::Value;
use crate::key::js_order;

/// A map that keeps insertion order, with logarithmic lookups.
#[derive(Clone)]
pub(crate) struct OrderedMap<V> {
    /// Invariant: no key appears twice.
    entries: Vec<(String, V)>,
    /// Invariant: maps each key of `entries` to its position there, and nothing else.
    index: BTreeMap<String, usize>,
}

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap {
            entries: Vec::new(),
            index: BTreeMap::new(),
        }
    }
}

impl<V> OrderedMap<V> {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.index.get(key).map(|&i| &mut self.entries[i].1)
    }

    /// Inserts at the end, or replaces in place (keeping the key's position, as assigning to
    /// an existing property in JavaScript does); returns the replaced value.
    pub(crate) fn insert(&mut self, key: String, value: V) -> Option<V> {
        match self.index.get(&key) {
            Some(&i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Entries in insertion order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Entries in the order JavaScript walks them: integer-like keys first, ascending.
    pub(crate) fn js_iter(&self) -> impl Iterator<Item = (&str, &V)> {
        js_order(self.entries.iter().map(|(k, _)| k.as_str()))
            .into_iter()
            .map(|i| {
                let (k, v) = &self.entries[i];
                (k.as_str(), v)
            })
    }

    pub(crate) fn into_entries(self) -> Vec<(String, V)> {
        self.entries
    }
}

/// Order matters: equal maps hold the same entries in the same order.
impl<V: PartialEq> PartialEq for OrderedMap<V> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<V: fmt::Debug> fmt::Debug for OrderedMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// An object of a protected data: keys to values, in insertion order.
///
/// Equality ignores order (two objects are equal when they hold the same keys with equal
/// values). Where order shows — the schema's JSON, the zip's entries — this crate writes keys
/// in the order JavaScript walks an object inserted in this order: integer-like keys (`"2"`,
/// `"10"`) first, ascending, then the others in insertion order. That is what the SDK writes
/// for the same object literal.
#[derive(Clone, Default)]
pub struct Object(pub(crate) OrderedMap<Value>);

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Object::default()
    }

    /// How many keys the object has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the object has no key.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// The value of a key of this object (not a dotted path).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Sets a key, at the end if new, in place if not; returns the value it replaced. Keys
    /// are checked when the object becomes part of a [`DataObject`](crate::DataObject).
    pub fn insert(&mut self, key: impl Into<String>, value: Value) -> Option<Value> {
        self.0.insert(key.into(), value)
    }

    /// The keys and values in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter()
    }

    /// The keys and values in the order JavaScript (and so the SDK) walks them.
    pub fn iter_js_order(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.js_iter()
    }
}

impl PartialEq for Object {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<K: Into<String>> FromIterator<(K, Value)> for Object {
    /// Collects keys and values; a repeated key keeps its first position and its last value.
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut object = Object::new();
        for (k, v) in iter {
            object.insert(k, v);
        }
        object
    }
}

impl IntoIterator for Object {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    /// The keys and values in insertion order.
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_entries().into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_insertion_order_and_replaces_in_place() {
        let mut o = Object::new();
        o.insert("b", Value::Bool(true));
        o.insert("a", Value::Bool(false));
        o.insert("10", Value::Bool(false));
        o.insert("2", Value::Bool(false));
        assert_eq!(o.insert("b", Value::F64(1.0)), Some(Value::Bool(true)));
        let keys: Vec<&str> = o.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "a", "10", "2"]);
        let js: Vec<&str> = o.iter_js_order().map(|(k, _)| k).collect();
        assert_eq!(js, ["2", "10", "b", "a"]);
        assert_eq!(o.get("b"), Some(&Value::F64(1.0)));
    }

    #[test]
    fn equality_ignores_order() {
        let a: Object = [("x", Value::Bool(true)), ("y", Value::Bool(false))]
            .into_iter()
            .collect();
        let b: Object = [("y", Value::Bool(false)), ("x", Value::Bool(true))]
            .into_iter()
            .collect();
        let c: Object = [("y", Value::Bool(true)), ("x", Value::Bool(true))]
            .into_iter()
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
