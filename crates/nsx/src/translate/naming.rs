//! Names, labels and annotations of the objects the adapter writes: UUID names (the NSX
//! `unique_id` when known, else a name-based UUID of the NSX path, so that a path always maps to
//! the same name), ClusterGroup child names `<uuid>-N`, and ACNP rule names from `rule_id`.

use sha1::{Digest, Sha1};

/// Label on every managed object: `ccp-adapter.antrea.tanzu.vmware.com/managedBy=ccp-adapter`.
pub const MANAGED_BY_LABEL: &str = "ccp-adapter.antrea.tanzu.vmware.com/managedBy";
pub const MANAGED_BY_VALUE: &str = "ccp-adapter";
/// The NSX display name of an ACNP (on ClusterGroups: the group's own name, as captured).
pub const DISPLAY_NAME_ANNOTATION: &str = "ccp-adapter.antrea.tanzu.vmware.com/display-name";
/// `createdFrom: nestdbGroupMsg` on ClusterGroups.
pub const CREATED_FROM_ANNOTATION: &str = "ccp-adapter.antrea.tanzu.vmware.com/createdFrom";
pub const CREATED_FROM_VALUE: &str = "nestdbGroupMsg";
/// The parent ClusterGroup of a child `<uuid>-N`.
pub const PARENT_ANNOTATION: &str = "ccp-adapter.antrea.tanzu.vmware.com/parent";

/// RFC 4122 URL namespace; name-based UUIDs of NSX paths are version 5 in it.
const URL_NAMESPACE: [u8; 16] = [
    0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
];

/// The version-5 UUID of `name` (lowercase hex, hyphenated).
pub fn name_based_uuid(name: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(URL_NAMESPACE);
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut uuid = String::with_capacity(36);
    for (index, byte) in bytes.iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            uuid.push('-');
        }
        uuid.push(char::from(HEX[usize::from(byte >> 4)]));
        uuid.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    uuid
}

/// The Antrea object name of an NSX object: its `unique_id`, else the UUID of its path.
pub fn object_name(unique_id: Option<&str>, path: &str) -> String {
    match unique_id {
        Some(id) if is_dns_label_name(id) => id.to_string(),
        _ => name_based_uuid(path),
    }
}

fn is_dns_label_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// The name of the `index`-th child ClusterGroup of `parent`.
pub fn child_group_name(parent: &str, index: usize) -> String {
    format!("{parent}-{index}")
}

/// Suffixes of the two halves of an NSX rule that becomes both an ingress and an egress rule
/// (Antrea rule names are unique across ingress and egress).
pub const INGRESS_HALF_SUFFIX: &str = "-in";
pub const EGRESS_HALF_SUFFIX: &str = "-out";

/// The NSX `rule_id` an ACNP rule name stands for: `"4084"`, `"4084-in"` and `"4084-out"` all
/// give 4084. Names that are not rule ids (a rule without `rule_id` is named by its NSX `id`)
/// give `None`.
pub fn rule_id_of_rule_name(name: &str) -> Option<i64> {
    let base = name
        .strip_suffix(INGRESS_HALF_SUFFIX)
        .or_else(|| name.strip_suffix(EGRESS_HALF_SUFFIX))
        .unwrap_or(name);
    base.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_based_uuids_are_stable_version_5_uuids() {
        let a = name_based_uuid("/infra/domains/default/groups/web");
        assert_eq!(a, name_based_uuid("/infra/domains/default/groups/web"));
        assert_ne!(a, name_based_uuid("/infra/domains/default/groups/db"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "5");
        // Python: uuid.uuid5(uuid.NAMESPACE_URL, "http://python.org/").
        assert_eq!(
            name_based_uuid("http://python.org/"),
            "4c565f0d-3f5a-5890-b41b-20cf47701c5e"
        );
    }

    #[test]
    fn unique_ids_are_used_when_they_are_valid_names() {
        assert_eq!(
            object_name(Some("9ae2599a-3bd3-4413-849e-06f53f467559"), "/p"),
            "9ae2599a-3bd3-4413-849e-06f53f467559"
        );
        assert_eq!(object_name(Some("Not A Name"), "/p"), name_based_uuid("/p"));
        assert_eq!(object_name(None, "/p"), name_based_uuid("/p"));
    }

    #[test]
    fn rule_names_map_back_to_rule_ids() {
        assert_eq!(rule_id_of_rule_name("4084"), Some(4084));
        assert_eq!(rule_id_of_rule_name("4084-in"), Some(4084));
        assert_eq!(rule_id_of_rule_name("4084-out"), Some(4084));
        assert_eq!(rule_id_of_rule_name("allow-web"), None);
    }
}
