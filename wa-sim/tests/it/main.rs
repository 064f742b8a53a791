//! wa-sim end to end: real headless Chromium drives the simulator over CDP.

mod harness;
mod boot;
mod linking;
mod messaging;
mod hostile;
mod binary;
