//! The scheduler core (placeholder: being written).
