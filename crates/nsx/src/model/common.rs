//! Fields every NSX policy object carries (`ResourceMeta`), tags, the list envelope and the map
//! that keeps unknown fields.

use serde::{Deserialize, Serialize};

/// Fields a type does not model, kept in arrival order so that a PUT body round-trips.
pub type ExtraFields = serde_json::Map<String, serde_json::Value>;

/// `{scope, tag}`. Kubernetes labels appear as `scope = "dis:k8s:<key>"`, `tag = "<value>"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Tag {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(default)]
    pub tag: String,
}

impl Tag {
    pub fn new(scope: impl Into<String>, tag: impl Into<String>) -> Self {
        Tag {
            scope: scope.into(),
            tag: tag.into(),
        }
    }

    /// The tag NSX inventory gives a Kubernetes label `key=value`.
    pub fn k8s_label(key: &str, value: &str) -> Self {
        Tag::new(format!("{K8S_TAG_PREFIX}{key}"), value)
    }
}

/// Scope prefix of tags that carry Kubernetes labels (nsx-operator's `InventoryK8sPrefix`).
pub const K8S_TAG_PREFIX: &str = "dis:k8s:";

/// The fields common to every policy object (reference §1). `resource_type` is kept here for the
/// top-level objects; polymorphic entries (expressions, service entries) use it as their tag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marked_for_delete: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overridden: Option<bool>,
    #[serde(rename = "_revision", default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    #[serde(
        rename = "_create_time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_time: Option<i64>,
    #[serde(
        rename = "_create_user",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_user: Option<String>,
    #[serde(
        rename = "_last_modified_time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified_time: Option<i64>,
    #[serde(
        rename = "_last_modified_user",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified_user: Option<String>,
    #[serde(
        rename = "_system_owned",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub system_owned: Option<bool>,
    #[serde(
        rename = "_protection",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub protection: Option<String>,
}

impl ResourceMeta {
    /// `display_name`, or the `id` when no display name was given.
    pub fn name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.id)
    }
}

/// `{results, result_count, cursor, sort_by, sort_ascending}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListResult<T> {
    pub results: Vec<T>,
    #[serde(default)]
    pub result_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_ascending: Option<bool>,
}

impl<T> ListResult<T> {
    /// A single, complete page.
    pub fn complete(results: Vec<T>) -> Self {
        ListResult {
            result_count: results.len() as u64,
            results,
            cursor: None,
            sort_by: None,
            sort_ascending: None,
        }
    }
}
