//! The sandbox every RUN step and `rbuild run` executes in. This file only
//! declares the submodules; the launch logic lives with the sandbox core.

pub mod cgroups;
pub mod network;
pub mod runtime;
