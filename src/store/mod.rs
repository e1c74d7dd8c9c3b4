//! The local image store (placeholder while being written).
