//! The trial list of a benchmark and its shards.
//!
//! A [`Plan`] — submissions × workloads × studies × trials — expands into one deterministic list
//! of [`Trial`]s: in submission order (as given), then workload order (as given), study 0, 1,
//! ..., trial 1, 2, ... (AlgoPerf's numbering). Trial j of every study of every workload uses the
//! same hyperparameter point (AlgoPerf's quasi-random search does not depend on the workload or
//! the study), and the training seed of a trial depends on (seed, workload, study, trial) but not
//! on the submission, so that submissions are compared on the same data orders and
//! initializations (common random numbers; AlgoPerf folds the same three into its job seeds).
//!
//! A [`Shard`] `i/n` takes the trials whose index in that list is ≡ i (mod n): shards are
//! disjoint, their union is the whole list, and consecutive trials (often of one workload) are
//! spread over the shards. `SLURM_ARRAY_TASK_ID` / `SLURM_ARRAY_TASK_COUNT` (minus
//! `SLURM_ARRAY_TASK_MIN`, so `--array=1-10` works too) give the shard of a job-array task.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::AlgoPerfError;
use super::search::Point;
use super::submission::Submission;

/// AlgoPerf's external-tuning ruleset: studies.
pub const DEFAULT_STUDIES: u32 = 3;
/// AlgoPerf's external-tuning ruleset: trials per study.
pub const DEFAULT_TRIALS: u32 = 5;

/// One trial: what to train and where its logs go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Position in the plan's full trial list.
    pub index: usize,
    /// Submission name.
    pub submission: String,
    /// Workload name.
    pub workload: String,
    /// Study (from 0).
    pub study: u32,
    /// Trial (from 1).
    pub trial: u32,
    /// The hyperparameter point (written as `hparams.json`).
    pub hyperparameters: Point,
    /// The training seed (data order, initialization): from (plan seed, workload, study, trial).
    pub seed: u64,
}

impl Trial {
    /// `submission/study_k/workload/trial_j`, for messages.
    pub fn label(&self) -> String {
        format!(
            "{}/study_{}/{}/trial_{}",
            self.submission, self.study, self.workload, self.trial
        )
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Submissions, in order.
    pub submissions: Vec<Submission>,
    /// Workload names, in order.
    pub workloads: Vec<String>,
    /// Studies per workload (AlgoPerf: 3 or 5).
    pub studies: u32,
    /// Trials per study (AlgoPerf's external tuning: 5).
    pub trials: u32,
    /// Seed of the quasi-random search's point order and of the training seeds.
    pub seed: u32,
}

/// SplitMix64's finalizer: a bijective mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of a name (stable across platforms and Rust versions, unlike `Hash`).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The training seed of trial `trial` of study `study` on `workload`.
pub fn trial_seed(seed: u32, workload: &str, study: u32, trial: u32) -> u64 {
    mix(mix(mix(u64::from(seed) ^ fnv1a(workload)) ^ u64::from(study)) ^ u64::from(trial))
}

impl Plan {
    /// Checks the plan: at least one submission, workload, study and trial; unique names.
    pub fn check(&self) -> Result<(), AlgoPerfError> {
        let bad = |m: String| Err(AlgoPerfError::Invalid(m));
        if self.submissions.is_empty() {
            return bad("no submission".into());
        }
        if self.workloads.is_empty() {
            return bad("no workload".into());
        }
        if self.studies == 0 {
            return bad("--studies must be at least 1".into());
        }
        if self.trials == 0 {
            return bad("--trials must be at least 1".into());
        }
        for (i, s) in self.submissions.iter().enumerate() {
            if self.submissions[..i].iter().any(|t| t.name == s.name) {
                return bad(format!("submission `{}` given twice", s.name));
            }
        }
        for (i, w) in self.workloads.iter().enumerate() {
            if self.workloads[..i].contains(w) {
                return bad(format!("workload `{w}` given twice"));
            }
            if w.is_empty()
                || !w
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return bad(format!(
                    "workload `{w}`: names are letters, digits, `_` and `-`"
                ));
            }
        }
        Ok(())
    }

    /// Every trial, in the plan's order.
    pub fn trials(&self) -> Result<Vec<Trial>, AlgoPerfError> {
        self.check()?;
        let mut out = Vec::new();
        for s in &self.submissions {
            let points = s.points(self.trials as usize, self.seed)?;
            for w in &self.workloads {
                for study in 0..self.studies {
                    for (j, p) in points.iter().enumerate() {
                        let trial = j as u32 + 1;
                        out.push(Trial {
                            index: out.len(),
                            submission: s.name.clone(),
                            workload: w.clone(),
                            study,
                            trial,
                            hyperparameters: p.clone(),
                            seed: trial_seed(self.seed, w, study, trial),
                        });
                    }
                }
            }
        }
        Ok(out)
    }
}

/// A shard `index/count` (index from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, in 0..count.
    pub index: usize,
    /// Number of shards, ≥ 1.
    pub count: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Checks 0 ≤ index < count.
    pub fn new(index: usize, count: usize) -> Result<Shard, AlgoPerfError> {
        if count == 0 {
            return Err(AlgoPerfError::Invalid(
                "shard: the number of shards must be at least 1".into(),
            ));
        }
        if index >= count {
            return Err(AlgoPerfError::Invalid(format!(
                "shard {index}/{count}: the index counts from 0 and must be below {count} \
                 (0/{count} .. {}/{count})",
                count - 1
            )));
        }
        Ok(Shard { index, count })
    }

    /// The shard of a Slurm job-array task: `SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN` of
    /// `SLURM_ARRAY_TASK_COUNT`, read through `var`; `None` when not in a job array.
    pub fn from_slurm(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Shard>, AlgoPerfError> {
        let Some(id) = var("SLURM_ARRAY_TASK_ID") else {
            return Ok(None);
        };
        let num = |name: &str, v: String| {
            v.trim().parse::<usize>().map_err(|_| {
                AlgoPerfError::Invalid(format!("{name} = `{v}` is not a non-negative integer"))
            })
        };
        let id = num("SLURM_ARRAY_TASK_ID", id)?;
        let count = var("SLURM_ARRAY_TASK_COUNT").ok_or_else(|| {
            AlgoPerfError::Invalid(
                "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not (use --shard i/n)"
                    .into(),
            )
        })?;
        let count = num("SLURM_ARRAY_TASK_COUNT", count)?;
        let min = match var("SLURM_ARRAY_TASK_MIN") {
            Some(v) => num("SLURM_ARRAY_TASK_MIN", v)?,
            None => 0,
        };
        let index = id.checked_sub(min).ok_or_else(|| {
            AlgoPerfError::Invalid(format!(
                "SLURM_ARRAY_TASK_ID = {id} is below SLURM_ARRAY_TASK_MIN = {min}"
            ))
        })?;
        Shard::new(index, count).map(Some)
    }

    /// The shard from the environment's Slurm variables, if any.
    pub fn from_env() -> Result<Option<Shard>, AlgoPerfError> {
        Shard::from_slurm(|k| std::env::var(k).ok())
    }

    /// Whether trial `index` of the full list belongs to this shard.
    pub fn contains(&self, index: usize) -> bool {
        index % self.count == self.index
    }

    /// The trials of this shard, in order.
    pub fn select(&self, trials: &[Trial]) -> Vec<Trial> {
        trials
            .iter()
            .filter(|t| self.contains(t.index))
            .cloned()
            .collect()
    }
}

impl FromStr for Shard {
    type Err = AlgoPerfError;

    /// `"i/n"`.
    fn from_str(s: &str) -> Result<Shard, AlgoPerfError> {
        let bad = || {
            AlgoPerfError::Invalid(format!(
                "shard `{s}`: expected i/n with 0 ≤ i < n (e.g. 0/4)"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Shard::new(i, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn plan() -> Plan {
        Plan {
            submissions: vec![
                Submission::load("adamw").unwrap(),
                Submission::load("nadamw").unwrap(),
            ],
            workloads: vec!["mnist_mlp".into(), "logreg".into(), "char_gpt".into()],
            studies: 3,
            trials: 5,
            seed: 0,
        }
    }

    #[test]
    fn trial_list_is_deterministic_and_complete() {
        let p = plan();
        let t = p.trials().unwrap();
        assert_eq!(t.len(), 2 * 3 * 3 * 5);
        assert_eq!(t, p.trials().unwrap());
        assert!(t.iter().enumerate().all(|(i, x)| x.index == i));
        let keys: BTreeSet<(String, String, u32, u32)> = t
            .iter()
            .map(|x| (x.submission.clone(), x.workload.clone(), x.study, x.trial))
            .collect();
        assert_eq!(keys.len(), t.len());
        // the same point for trial j on every workload and study
        for x in &t {
            let y = t
                .iter()
                .find(|y| y.submission == x.submission && y.trial == x.trial)
                .unwrap();
            assert_eq!(x.hyperparameters, y.hyperparameters);
        }
        // seeds: the same for every submission, different across (workload, study, trial)
        let seeds: BTreeSet<u64> = t.iter().map(|x| x.seed).collect();
        assert_eq!(seeds.len(), 3 * 3 * 5);
        assert_eq!(t[0].label(), "adamw/study_0/mnist_mlp/trial_1");
    }

    #[test]
    fn shards_are_disjoint_and_cover_the_plan() {
        let all = plan().trials().unwrap();
        for n in [1, 2, 3, 7, 100] {
            let mut seen = BTreeSet::new();
            let mut total = 0;
            for i in 0..n {
                let s = Shard::new(i, n).unwrap().select(&all);
                total += s.len();
                for t in s {
                    assert!(seen.insert(t.index), "trial {} in two shards", t.index);
                }
            }
            assert_eq!(total, all.len());
            assert_eq!(seen.len(), all.len());
        }
    }

    #[test]
    fn shards_parse_and_come_from_slurm() {
        assert_eq!(
            "1/4".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 4 }
        );
        for bad in ["4/4", "1", "a/b", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Shard::from_slurm(env(&[])).unwrap(), None);
        assert_eq!(
            Shard::from_slurm(env(&[
                ("SLURM_ARRAY_TASK_ID", "3"),
                ("SLURM_ARRAY_TASK_COUNT", "8")
            ]))
            .unwrap(),
            Some(Shard { index: 3, count: 8 })
        );
        assert_eq!(
            Shard::from_slurm(env(&[
                ("SLURM_ARRAY_TASK_ID", "10"),
                ("SLURM_ARRAY_TASK_COUNT", "10"),
                ("SLURM_ARRAY_TASK_MIN", "1")
            ]))
            .unwrap(),
            Some(Shard {
                index: 9,
                count: 10
            })
        );
        assert!(Shard::from_slurm(env(&[("SLURM_ARRAY_TASK_ID", "3")])).is_err());
        assert!(
            Shard::from_slurm(env(&[
                ("SLURM_ARRAY_TASK_ID", "8"),
                ("SLURM_ARRAY_TASK_COUNT", "8")
            ]))
            .is_err()
        );
    }

    #[test]
    fn plans_are_checked() {
        let mut p = plan();
        p.workloads.push("logreg".into());
        assert!(p.trials().unwrap_err().to_string().contains("twice"));
        let mut p = plan();
        p.trials = 6; // nadamw has 5 fixed points
        assert!(
            p.trials()
                .unwrap_err()
                .to_string()
                .contains("5 fixed points")
        );
        let mut p = plan();
        p.workloads = vec!["a/b".into()];
        assert!(p.trials().is_err());
    }
}
