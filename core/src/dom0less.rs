//! Boot-time domains from the dom0less bindings (placeholder: being written).
