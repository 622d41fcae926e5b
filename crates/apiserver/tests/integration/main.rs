//! End-to-end tests of the security layer over real TLS on loopback, with fakes for the
//! aggregator (reqwest with client certificates) and the kube-apiserver.
#![allow(clippy::unwrap_used)]

mod authentication;
mod authorization;
mod caching;
mod rotation;
mod serving;
mod support;
