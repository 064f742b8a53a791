//! Vault figures (see docs/performance.md "## Vault").
