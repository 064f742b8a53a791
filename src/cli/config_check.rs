//! `wa-sidecar config check`: the merged, validated configuration with secrets redacted.

use std::path::PathBuf;

use crate::config::{load_keys, redacted_toml, InvalidConfig, LoadOptions, Settings};

pub fn run(config_file: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = Settings::load(&LoadOptions::from_process(config_file))?;
    println!("# mode: {}", settings.mode.name());
    println!("{}", redacted_toml(&settings)?);
    let problems = settings.validate();
    if !problems.is_empty() {
        return Err(InvalidConfig(problems).into());
    }
    if let Ok(keys) = load_keys(&settings, false) {
        for warning in keys.warnings {
            eprintln!("warning: {warning} (refused in production)");
        }
        for notice in keys.notices {
            eprintln!("warning: {notice}");
        }
        if let Some(path) = keys.generated {
            eprintln!(
                "note: no [[auth.keys]]; development mode uses the key in {}",
                path.display()
            );
        }
    }
    eprintln!("configuration is valid");
    Ok(())
}
