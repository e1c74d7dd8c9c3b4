//! The Dockerfile front end: bytes -> [`ast::Dockerfile`] (BuildKit-compatible
//! syntax tree). It does not expand variables, resolve images or touch the
//! filesystem; later stages of the front end do that.

pub mod args;
pub mod ast;
pub mod diagnostic;
pub mod instructions;
pub mod shell;
pub mod stages;
