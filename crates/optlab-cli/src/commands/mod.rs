//! One module per subcommand.

pub mod list;
#[cfg(feature = "nn")]
pub mod train;
