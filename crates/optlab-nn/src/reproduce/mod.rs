//! The lecture's neural-network figures for `optlab reproduce`, on the lab's shared figure
//! mechanism ([`optlab::reproduce`]: verdicts with checked numbers, plots, CSV, the HTML report).
//! The CLI lists them after the lab's classical figures.

pub mod common;
pub mod grokking;
pub mod init_depth;
pub mod loss_landscape;
pub mod sharp_flat_sam;

use optlab::reproduce::Figure;

/// Every network figure, in report order.
pub const FIGURES: &[Figure] = &[
    init_depth::FIGURE,
    loss_landscape::FIGURE,
    sharp_flat_sam::FIGURE,
    grokking::FIGURE,
];
