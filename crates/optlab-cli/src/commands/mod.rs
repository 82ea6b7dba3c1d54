//! One module per subcommand.

pub mod algoperf;
pub mod bench;
pub mod list;
pub mod reproduce;
pub mod run;
pub mod serve;
#[cfg(feature = "nn")]
pub mod train;
pub mod verify;

/// Floating-point precision selected on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// 32-bit floats (networks).
    F32,
    /// 64-bit floats (theory, golden tests).
    F64,
}

impl Precision {
    /// `"f32"` or `"f64"`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}
