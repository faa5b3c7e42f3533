//! What every admission test uses: the API under test (re-exported), objects from JSON
//! text, the Kubernetes regex error texts, and the table runner (`run`: each case accepted or
//! rejected with exactly its field and message).

pub use tierwall_engine::Store;
pub use tierwall_engine::admission::*;
pub use tierwall_model::{Kind, Object, ObjectKey, load_str};

/// `name part` regex error of Kubernetes' `IsQualifiedName`.
pub const NAME_PART: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
/// Regex error of Kubernetes' `IsValidLabelValue`.
pub const LABEL_VALUE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

pub fn object(text: &str) -> Object {
    let mut loaded = load_str("test", text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(loaded.len(), 1, "{text}");
    let mut o = loaded.remove(0).object;
    o.normalize_type_meta();
    o
}

pub fn acnp(spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"crd.antrea.io/v1beta1","kind":"ClusterNetworkPolicy","metadata":{{"name":"p"}},"spec":{spec}}}"#
    )
}

pub fn annp(spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"crd.antrea.io/v1beta1","kind":"NetworkPolicy","metadata":{{"name":"p","namespace":"x"}},"spec":{spec}}}"#
    )
}

pub fn tier(name: &str, priority: i64) -> String {
    format!(
        r#"{{"apiVersion":"crd.antrea.io/v1beta1","kind":"Tier","metadata":{{"name":"{name}"}},"spec":{{"priority":{priority}}}}}"#
    )
}

pub fn cg(name: &str, spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"crd.antrea.io/v1beta1","kind":"ClusterGroup","metadata":{{"name":"{name}"}},"spec":{spec}}}"#
    )
}

pub fn grp(ns: &str, name: &str, spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"crd.antrea.io/v1beta1","kind":"Group","metadata":{{"name":"{name}","namespace":"{ns}"}},"spec":{spec}}}"#
    )
}

pub fn netpol(spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{{"name":"np","namespace":"x"}},"spec":{spec}}}"#
    )
}

/// Admits and, when accepted, stores the object (what the engine does).
pub fn apply(store: &mut Store, text: &str) -> Result<Admitted, AdmissionError> {
    let admitted = admit_apply(store, object(text))?;
    store.put(admitted.object.clone());
    Ok(admitted)
}

/// `None` = accepted; `Some((field, message))` = rejected with exactly that.
pub type Want = Option<(&'static str, &'static str)>;

pub fn check(store: &Store, gates: &FeatureGates, name: &str, text: &str, want: Want) {
    let got = admit_apply_with(store, object(text), gates);
    match (want, got) {
        (None, Ok(_)) => {}
        (None, Err(e)) => panic!("{name}: expected accepted, got {e}"),
        (Some((field, message)), Ok(_)) => {
            panic!("{name}: expected rejection {field}: {message}, got accepted")
        }
        (Some((field, message)), Err(e)) => {
            assert_eq!(
                (e.field.as_str(), e.message.as_str()),
                (field, message),
                "{name}"
            );
        }
    }
}

pub fn run(store: &Store, gates: &FeatureGates, cases: &[(&str, String, Want)]) {
    for (name, text, want) in cases {
        check(store, gates, name, text, *want);
    }
}

pub const AT: &str = r#""appliedTo":[{"podSelector":{}}]"#;

pub fn with_at(rest: &str) -> String {
    acnp(&format!(r#"{{"priority":1,{AT},{rest}}}"#))
}
