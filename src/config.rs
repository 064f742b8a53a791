//! Layered configuration: `config/default.toml`, `config/{SIDECAR_ENV}.toml`, `SIDECAR__SECTION__KEY`, `--config FILE`.
