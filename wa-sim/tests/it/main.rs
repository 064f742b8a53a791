//! wa-sim end to end: real headless Chromium drives the simulator over CDP.

mod binary;
mod boot;
mod catchup;
mod cloud;
mod harness;
mod hostile;
mod linking;
mod messaging;
mod receiving;
mod sending;
mod weight;
