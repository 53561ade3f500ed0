//! Real peers shared by the integration tests.
#![allow(dead_code)]

pub mod broker;
pub mod site;
