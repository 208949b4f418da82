//! The one DynamoDB table Postora keeps everything in, defined once in code. `postora aws bootstrap` creates it from
//! this definition and a test checks that template.yaml declares the same table, so the two cannot drift apart.
//!
//! Every item has a partition key `pk` and a sort key `sk`, both strings. Two overloaded, sparse global secondary
//! indexes carry the lookups that the base keys cannot answer; an item appears in an index only while it has that
//! index's key attributes. The due index projects the `data` attribute (the record as JSON), which the dispatcher
//! acts on without reading the table; the lookup index projects keys only, since its readers fetch the records from
//! the table anyway, and so a delivery's every status change does not rewrite its entry there. Neither index ever holds
//! a wrapped workspace key or a token ciphertext (kept in other attributes, on items that carry no index keys).

/// The type of a key attribute, as DynamoDB names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// `S`
    String,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::String => "S",
        }
    }
}

/// One key attribute: its name and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAttribute {
    pub name: &'static str,
    pub kind: KeyType,
}

/// Which attributes an index copies besides the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// `KEYS_ONLY`: an entry changes only when the item enters or leaves the index or its index keys change.
    KeysOnly,
    /// `INCLUDE` with these non-key attributes.
    Include(&'static [&'static str]),
}

impl Projection {
    /// The `ProjectionType` as DynamoDB and CloudFormation name it.
    pub fn kind(self) -> &'static str {
        match self {
            Projection::KeysOnly => "KEYS_ONLY",
            Projection::Include(_) => "INCLUDE",
        }
    }

    pub fn non_key_attributes(self) -> &'static [&'static str] {
        match self {
            Projection::KeysOnly => &[],
            Projection::Include(attributes) => attributes,
        }
    }
}

/// A global secondary index: its key and which attributes it copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: &'static str,
    pub partition_key: KeyAttribute,
    pub sort_key: KeyAttribute,
    pub projection: Projection,
    /// Why the index exists and which item kinds appear in it.
    pub purpose: &'static str,
}

/// The table: keys, indexes, time to live and the settings bootstrap and template.yaml must both apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableDefinition {
    pub partition_key: KeyAttribute,
    pub sort_key: KeyAttribute,
    pub indexes: [IndexDefinition; 2],
    /// The attribute DynamoDB's time to live reads (epoch seconds). OAuth states, idempotency records, media
    /// uploads, people's sessions, single-use links, sign-ins and attempt counters, and invitations set it.
    pub ttl_attribute: &'static str,
    /// `PAY_PER_REQUEST`: traffic is spiky (a busy minute, then quiet), which on-demand capacity prices well.
    pub billing_mode: &'static str,
    pub point_in_time_recovery: bool,
    /// Server-side encryption with the AWS managed KMS key (`SSEType: KMS`).
    pub kms_encryption: bool,
}

/// The name of the attribute that holds a record as JSON: the only non-key attribute an index copies.
pub const DATA: &str = "data";

const fn string_key(name: &'static str) -> KeyAttribute {
    KeyAttribute {
        name,
        kind: KeyType::String,
    }
}

/// The due index: `DUE#<shard>` / `<wake_at ms>#<delivery>` for every scheduled delivery, `TIMER#<shard>` /
/// `<wake_at ms>#<delivery>` for every queued or publishing one (its requeue deadline or lease end), `TOKEXP` /
/// `<expiry ms>#<workspace>#<account>` for every active account whose token expires, `UNATTACHED` /
/// `<created ms>#<workspace>#<media>` for every media item no post uses yet, and `UPLOADEXP` /
/// `<expiry ms>#<workspace>#<upload>` for every media upload.
pub const DUE_INDEX: IndexDefinition = IndexDefinition {
    name: "gsi1",
    partition_key: string_key("gsi1pk"),
    sort_key: string_key("gsi1sk"),
    projection: Projection::Include(&[DATA]),
    purpose: "due deliveries and expired timers, sharded; accounts by token expiry; unattached media and uploads by time",
};

/// The lookup index: `PU#<platform>#<platform user id>` for accounts (the data-deletion callbacks name only a
/// platform user), `LIVE#<workspace>#<account>` for an account's deliveries that are not terminal, and `WORKSPACES`
/// for the list of workspaces.
pub const LOOKUP_INDEX: IndexDefinition = IndexDefinition {
    name: "gsi2",
    partition_key: string_key("gsi2pk"),
    sort_key: string_key("gsi2sk"),
    projection: Projection::KeysOnly,
    purpose: "accounts by platform user; live deliveries by account; workspaces",
};

pub const TABLE: TableDefinition = TableDefinition {
    partition_key: string_key("pk"),
    sort_key: string_key("sk"),
    indexes: [DUE_INDEX, LOOKUP_INDEX],
    ttl_attribute: "expires_at",
    billing_mode: "PAY_PER_REQUEST",
    point_in_time_recovery: true,
    kms_encryption: true,
};

impl TableDefinition {
    /// Every key attribute of the table and its indexes, once each, sorted by name (the order DynamoDB reports).
    pub fn attribute_definitions(&self) -> Vec<KeyAttribute> {
        let mut all = vec![self.partition_key, self.sort_key];
        for index in &self.indexes {
            all.push(index.partition_key);
            all.push(index.sort_key);
        }
        all.sort_by_key(|a| a.name);
        all.dedup_by_key(|a| a.name);
        all
    }

    pub fn index(&self, name: &str) -> Option<&IndexDefinition> {
        self.indexes.iter().find(|i| i.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_attribute_is_defined_once() {
        let names: Vec<_> = TABLE
            .attribute_definitions()
            .iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, ["gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "pk", "sk"]);
    }

    #[test]
    fn the_ttl_attribute_is_never_a_key() {
        assert!(TABLE
            .attribute_definitions()
            .iter()
            .all(|a| a.name != TABLE.ttl_attribute));
    }
}
