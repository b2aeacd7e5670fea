//! DriftGuard's local stack: everything needed to run the real state machine
//! and the real Lambda binaries with no AWS account.
