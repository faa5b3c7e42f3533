//! Shared by the privileged live tests.

pub mod random_policies;
