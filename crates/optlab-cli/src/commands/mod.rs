//! One module per subcommand.

pub mod list;
pub mod reproduce;
pub mod run;
