//! The `[callbacks]` section of the configuration. Owned by this module; `crate::config` only nests it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbacksConfig {}

impl CallbacksConfig {
    /// Problems as (key under `callbacks.`, what is wrong). Empty means valid.
    /// `production` is true when SIDECAR_ENV=production.
    pub fn validate(&self, _production: bool) -> Vec<(String, String)> {
        Vec::new()
    }
}
