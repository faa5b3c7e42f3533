//! Metadata and core objects: the table of metadata checks, Namespace mutation and
//! normalisation, deletes of other kinds.

use crate::support::*;

const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

#[test]
fn table() {
    let store = Store::new();
    let sub = Box::leak(format!("Invalid value: \"Bad\": {SUBDOMAIN}").into_boxed_str()) as &str;
    let cases: Vec<(&str, String, Want)> = vec![
        ("empty name", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":""}}"#.into(), Some(("metadata.name", "Required value: name or generateName is required"))),
        ("bad name", tier("Bad", 10), Some(("metadata.name", sub))),
        ("dotted namespace name", r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a.b"}}"#.into(), Some(("metadata.name", "Invalid value: \"a.b\": must not contain dots"))),
        ("service name", r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"1svc","namespace":"x"}}"#.into(), Some(("metadata.name", "Invalid value: \"1svc\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"))),
        ("bad namespace", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"X_1"}}"#.into(), Some(("metadata.namespace", "Invalid value: \"X_1\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"))),
        ("label value", r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"n","labels":{"k":"-v"}}}"#.into(), Some(("metadata.labels", Box::leak(format!("Invalid value: \"-v\": {LABEL_VALUE}").into_boxed_str())))),
        ("annotation key", r#"{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"sa","namespace":"x","annotations":{"a b":"v"}}}"#.into(), Some(("metadata.annotations", Box::leak(format!("Invalid value: \"a b\": {NAME_PART}").into_boxed_str())))),
        ("pod ok", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"x","labels":{"pod":"a"}},"spec":{"containers":[{"name":"c","ports":[{"name":"serve-80-tcp","containerPort":80}]}]},"status":{"podIP":"10.10.1.11"}}"#.into(), None),
        ("pod IP", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"x"},"status":{"podIP":"10.10.1"}}"#.into(), Some(("status.podIP", "Invalid value: \"10.10.1\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))),
        ("pod IPs", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"x"},"status":{"podIPs":[{"ip":"fd00::1"},{"ip":"x"}]}}"#.into(), Some(("status.podIPs[1].ip", "Invalid value: \"x\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))),
        ("container port", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"x"},"spec":{"containers":[{"name":"c","ports":[{"containerPort":0}]}]}}"#.into(), Some(("spec.containers[0].ports[0].containerPort", "Invalid value: 0: must be between 1 and 65535, inclusive"))),
        ("container port name", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"x"},"spec":{"containers":[{"name":"c","ports":[{"containerPort":80,"name":"serve-80-tcp-and-more"}]}]}}"#.into(), Some(("spec.containers[0].ports[0].name", "Invalid value: \"serve-80-tcp-and-more\": must be no more than 15 characters"))),
        ("service None", r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"x"},"spec":{"clusterIP":"None","ports":[{"port":80,"targetPort":"http"}]}}"#.into(), None),
        ("service clusterIP", r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"x"},"spec":{"clusterIP":"10.96.0.300"}}"#.into(), Some(("spec.clusterIP", "Invalid value: \"10.96.0.300\": must be empty, 'None', or a valid IP address"))),
        ("service port", r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"x"},"spec":{"ports":[{"port":70000}]}}"#.into(), Some(("spec.ports[0].port", "Invalid value: 70000: must be between 1 and 65535, inclusive"))),
        ("service targetPort", r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"x"},"spec":{"ports":[{"port":80,"targetPort":65536}]}}"#.into(), Some(("spec.ports[0].targetPort", "Invalid value: 65536: must be between 1 and 65535, inclusive"))),
        ("service protocol", r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"x"},"spec":{"ports":[{"port":80,"protocol":"tcp"}]}}"#.into(), Some(("spec.ports[0].protocol", r#"Unsupported value: "tcp": supported values: "TCP", "UDP", "SCTP""#))),
        ("node", r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-0","labels":{"node-role.kubernetes.io/control-plane":""}}}"#.into(), None),
    ];
    run(&store, &FeatureGates::default(), &cases);
}

#[test]
fn namespace_mutation_and_normalisation() {
    let store = Store::new();
    let ns = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x","labels":{"ns":"x","kubernetes.io/metadata.name":"wrong"}}}"#;
    let admitted = admit_apply(&store, object(ns)).unwrap();
    let labels = &admitted.object.metadata().labels;
    assert_eq!(
        labels.get(NAMESPACE_NAME_LABEL).map(String::as_str),
        Some("x")
    );
    assert_eq!(labels.get("ns").map(String::as_str), Some("x"));

    let mut pod = object(r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}"#);
    pod.metadata_mut().namespace = None;
    let admitted = admit_apply(&store, pod).unwrap();
    assert_eq!(
        admitted.object.metadata().namespace.as_deref(),
        Some("default")
    );

    let mut t = object(&tier("t", 10));
    t.metadata_mut().namespace = Some("x".into());
    let admitted = admit_apply(&store, t).unwrap();
    assert_eq!(admitted.object.metadata().namespace, None);
    assert_eq!(admitted.object.key(), ObjectKey::cluster(Kind::Tier, "t"));
}

#[test]
fn deletes_of_other_kinds_are_allowed() {
    let mut store = Store::new();
    apply(&mut store, &cg("c", "{}")).unwrap();
    apply(&mut store, &netpol(r#"{"podSelector":{}}"#)).unwrap();
    assert_eq!(
        admit_delete(&store, &ObjectKey::cluster(Kind::ClusterGroup, "c")),
        Ok(())
    );
    assert_eq!(
        admit_delete(
            &store,
            &ObjectKey::namespaced(Kind::NetworkPolicy, "x", "np")
        ),
        Ok(())
    );
}
