//! Object metadata as the API server validates it for every kind (`ValidateObjectMeta`): the
//! name (DNS-1123 subdomain; DNS-1123 label for Namespaces; DNS-1035 label for Services), the
//! namespace of namespaced objects (DNS-1123 label), label keys and values, annotation keys.
//! Also the namespace normalisation the API server applies: namespaced objects without one go
//! to `default` (as `Object::key` assumes), cluster-scoped objects lose a stray namespace.

use super::field::{Check, invalid_all, quote, required};
use super::labels::{
    dns1035_label_errors, dns1123_label_errors, dns1123_subdomain_errors, label_value_errors,
    qualified_name_errors,
};
use tierwall_model::meta::StringMap;
use tierwall_model::{Kind, Object, ObjectMeta};

/// Namespaced objects get `default`, cluster-scoped objects none.
pub fn normalize_namespace(object: &mut Object) {
    let namespaced = object.kind().is_namespaced();
    let meta = object.metadata_mut();
    if namespaced {
        if meta.namespace.as_deref().is_none_or(str::is_empty) {
            meta.namespace = Some("default".to_string());
        }
    } else {
        meta.namespace = None;
    }
}

/// `ValidateObjectMeta` for an object of `kind`.
pub fn validate(kind: Kind, meta: &ObjectMeta) -> Check {
    if meta.name.is_empty() {
        return Err(required(
            "metadata.name",
            "name or generateName is required",
        ));
    }
    let errs = match kind {
        Kind::Namespace => dns1123_label_errors(&meta.name),
        Kind::Service => dns1035_label_errors(&meta.name),
        _ => dns1123_subdomain_errors(&meta.name),
    };
    if !errs.is_empty() {
        return Err(invalid_all("metadata.name", quote(&meta.name), &errs));
    }
    if kind.is_namespaced() {
        let ns = meta.namespace.as_deref().unwrap_or("default");
        let errs = dns1123_label_errors(ns);
        if !errs.is_empty() {
            return Err(invalid_all("metadata.namespace", quote(ns), &errs));
        }
    }
    validate_labels(&meta.labels, "metadata.labels")?;
    for key in meta.annotations.keys() {
        let errs = qualified_name_errors(&key.to_lowercase());
        if !errs.is_empty() {
            return Err(invalid_all("metadata.annotations", quote(key), &errs));
        }
    }
    Ok(())
}

/// Kubernetes' `ValidateLabels` (keys are qualified names, values label values), in key order.
pub fn validate_labels(labels: &StringMap, path: &str) -> Check {
    for (k, v) in labels {
        let errs = qualified_name_errors(k);
        if !errs.is_empty() {
            return Err(invalid_all(path, quote(k), &errs));
        }
        let errs = label_value_errors(v);
        if !errs.is_empty() {
            return Err(invalid_all(path, quote(v), &errs));
        }
    }
    Ok(())
}
