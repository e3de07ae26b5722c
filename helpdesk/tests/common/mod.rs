#![allow(dead_code)]
pub mod flows;
pub mod server;
