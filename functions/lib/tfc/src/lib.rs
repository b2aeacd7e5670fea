//! The HCP Terraform / Terraform Enterprise adapter: [`HttpTerraformCloud`],
//! the real client of the core's `TerraformCloud` port (JSON:API over
//! reqwest with rustls). The port, run phases and the pacing arithmetic are
//! the core's (`driftguard_core::terraform`); this crate only speaks HTTP.

mod client;
mod jsonapi;

pub use client::{ClientOptions, HttpTerraformCloud};
