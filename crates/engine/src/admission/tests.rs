//! Admission checks that no object can reach through `admit_apply` (an earlier row rejects the
//! input first), tested on the private function directly. Everything reachable is tested through
//! the public API in `tests/admission/`.

use tierwall_model::{Object, load_str};

#[test]
fn row_29_egress_multicast_cidr() {
    // Unreachable through admission (row 19 rejects the CIDR first); checked directly.
    let text = r#"{"apiVersion":"crd.antrea.io/v1beta1","kind":"ClusterNetworkPolicy","metadata":{"name":"p"},"spec":{"priority":1,"appliedTo":[{"podSelector":{}}],"egress":[{"action":"Drop","to":[{"ipBlock":{"cidr":"bad"}}]}]}}"#;
    let p = match load_str("test", text).unwrap().remove(0).object {
        Object::AntreaPolicy(_, p) => p,
        other => panic!("{other:?}"),
    };
    let err = super::policy::validate_egress_multicast(&p.spec).unwrap_err();
    assert_eq!(err.field, "spec.egress[0].to[0].ipBlock.cidr");
    assert_eq!(
        err.message,
        "invalid multicast groupAddress address (to.IPBlock.CIDR): invalid CIDR address: bad"
    );
}
