//! rbuild: turns a Dockerfile and its context into an OCI image, and runs it.
//!
//! The flow is visible in the modules: [`parser`] reads the Dockerfile into an
//! AST and a stage graph; the executor runs the steps, each RUN inside the
//! [`sandbox`]; layers go through the cache into the image store; the
//! [`runner`] runs images as containers (docker's run/ps/exec/... verbs). This crate is
//! the library; the `rbuild` binary (src/main.rs) is a thin CLI over it.

pub mod cache;
pub mod context;
pub mod executor;
pub mod image;
pub mod layer;
pub mod lint;
pub mod parser;
pub mod progress;
pub mod registry;
pub mod runner;
pub mod sandbox;
pub mod store;
