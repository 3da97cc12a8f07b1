//! A workflow's phases for every Kubernetes version, written once: each entry says which minor
//! versions have it (kubeadm adds, renames and reorders phases between minors), and the table of
//! one version is built from that list the first time it is asked for.

use std::sync::OnceLock;

use crate::runner::Phase;
use crate::version::{KubeVersion, NEWEST_MINOR, OLDEST_MINOR};

/// One phase of a versioned table, with the minor versions (`1.x`) that have it.
#[derive(Debug, Clone, Copy)]
pub struct Versioned {
    phase: Phase,
    /// The first minor that has it.
    since: u32,
    /// The first minor that no longer has it.
    before: u32,
    /// A group whose sub-phases differ per version: those sub-phases (the phase's own
    /// `children` are then filled in per version).
    children: Option<&'static [Versioned]>,
}

impl Versioned {
    /// A phase every version has.
    pub const fn all(phase: Phase) -> Self {
        Versioned {
            phase,
            since: 0,
            before: u32::MAX,
            children: None,
        }
    }

    /// A phase of 1.`minor` and newer.
    pub const fn since(minor: u32, phase: Phase) -> Self {
        Versioned {
            since: minor,
            ..Versioned::all(phase)
        }
    }

    /// A phase of the versions before 1.`minor`.
    pub const fn before(minor: u32, phase: Phase) -> Self {
        Versioned {
            before: minor,
            ..Versioned::all(phase)
        }
    }

    /// A group of every version whose sub-phases differ per version.
    pub const fn group(
        name: &'static str,
        about: &'static str,
        children: &'static [Versioned],
    ) -> Self {
        Versioned {
            children: Some(children),
            ..Versioned::all(Phase::group(name, about, &[]))
        }
    }

    /// Marks the phase as one whose whole effect is files under the root (see
    /// [`Phase::files_only`]).
    pub const fn files_only(mut self) -> Self {
        self.phase = self.phase.files_only();
        self
    }

    fn has(&self, minor: u32) -> bool {
        self.since <= minor && minor < self.before
    }
}

/// The phases of `entries` that 1.`minor` has, groups with their sub-phases of that version.
fn select(entries: &'static [Versioned], minor: u32) -> Vec<Phase> {
    entries
        .iter()
        .filter(|e| e.has(minor))
        .map(|e| match e.children {
            None => e.phase,
            Some(children) => Phase {
                children: Box::leak(select(children, minor).into_boxed_slice()),
                ..e.phase
            },
        })
        .collect()
}

/// The names of a table's phases and sub-phases, in order: equal for equal tables.
fn shape(phases: &[Phase]) -> String {
    phases
        .iter()
        .map(|p| format!("{}({})", p.name, shape(p.children)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A workflow's phase tables, one per supported minor version, from one list of entries.
pub struct Tables {
    entries: &'static [Versioned],
    /// Per minor from the newest down to the oldest: its table (equal tables shared).
    built: OnceLock<Vec<&'static [Phase]>>,
}

impl Tables {
    /// The tables of `entries`.
    pub const fn new(entries: &'static [Versioned]) -> Self {
        Tables {
            entries,
            built: OnceLock::new(),
        }
    }

    fn built(&'static self) -> &'static [&'static [Phase]] {
        self.built.get_or_init(|| {
            let mut tables: Vec<&'static [Phase]> = Vec::new();
            let mut last: Option<(String, &'static [Phase])> = None;
            for minor in (OLDEST_MINOR..=NEWEST_MINOR).rev() {
                let phases = select(self.entries, minor);
                let this = shape(&phases);
                let table = match &last {
                    Some((shape, table)) if *shape == this => *table,
                    _ => {
                        let table: &'static [Phase] = Box::leak(phases.into_boxed_slice());
                        last = Some((this, table));
                        table
                    }
                };
                tables.push(table);
            }
            tables
        })
    }

    /// The table of a Kubernetes version (the nearest supported minor for one outside the range).
    pub fn of(&'static self, version: KubeVersion) -> &'static [Phase] {
        let minor = version.minor.clamp(OLDEST_MINOR, NEWEST_MINOR);
        self.built()[(NEWEST_MINOR - minor) as usize]
    }

    /// Every distinct table, newest version first.
    pub fn distinct(&'static self) -> Vec<&'static [Phase]> {
        let mut out: Vec<&'static [Phase]> = Vec::new();
        for table in self.built() {
            if !out.iter().any(|t| std::ptr::eq(*t, *table)) {
                out.push(table);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::context::Context;
    use crate::runner::paths;

    fn nop(_: &mut Context) -> anyhow::Result<()> {
        Ok(())
    }

    static TABLES: Tables = Tables::new(&[
        Versioned::all(Phase::leaf("first", "in every version", nop)),
        Versioned::before(29, Phase::leaf("moved", "early before 1.29", nop)),
        Versioned::group(
            "group",
            "sub-phases renamed in 1.31",
            &[
                Versioned::before(31, Phase::leaf("old", "up to 1.30", nop)),
                Versioned::since(31, Phase::leaf("new", "from 1.31", nop)),
            ],
        ),
        Versioned::since(29, Phase::leaf("moved", "late from 1.29", nop)),
    ]);

    fn of(version: &str) -> Vec<String> {
        paths(TABLES.of(KubeVersion::parse(version).unwrap()))
    }

    #[test]
    fn each_version_gets_the_phases_that_say_they_are_its_own() {
        assert_eq!(of("v1.28.0"), ["first", "moved", "group", "group/old"]);
        assert_eq!(of("v1.30.0"), ["first", "group", "group/old", "moved"]);
        assert_eq!(of("v1.31.0"), ["first", "group", "group/new", "moved"]);
        assert_eq!(TABLES.distinct().len(), 3);
        let newest = TABLES.distinct()[0];
        assert!(std::ptr::eq(
            newest,
            TABLES.of(KubeVersion::parse("v1.36.0").unwrap())
        ));
    }
}
