//! Writing flattened device trees (placeholder: being written).
