//! What a vipd stopping for a restart (SIGQUIT) tells the next one, and what
//! the next one decides from it.
//!
//! The stopping process leaves its XDP program attached with its tables pinned
//! (the IO shell's `datapath::pin`), keeps its VIPs, sends no priority-0
//! advert, and writes a [`Record`]. The next process resumes as MASTER the
//! instances that were MASTER, but only while no backup can have taken over:
//! before the deadline the stopping process computed from each instance's
//! Master_Down_Interval. Later, it starts as any vipd does (BACKUP, VIPs
//! removed), because a backup may hold the VIPs by then.

use serde::{Deserialize, Serialize};

/// A VRRP instance that was MASTER when vipd stopped for a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Master {
    /// `vrrp_instance` name.
    pub name: String,
    /// Until when (ms since the Unix epoch) the next process may resume it as
    /// MASTER: the stop plus the instance's Master_Down_Interval, the time
    /// after which a backup takes over.
    pub resume_until_ms: u64,
}

/// What the stopping process leaves for the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The stopping process.
    pub pid: u32,
    /// Its version.
    pub version: String,
    /// When it stopped (ms since the Unix epoch).
    pub stopped_at_ms: u64,
    /// The configuration file it ran.
    pub config_file: String,
    /// The interface whose XDP link it left pinned, if any.
    pub iface: Option<String>,
    /// How that link was attached (`native` or `generic`).
    pub xdp_mode: Option<String>,
    /// The pin directory.
    pub pin_dir: Option<String>,
    /// The VRRP instances that were MASTER.
    pub masters: Vec<Master>,
}

/// What the next process does with each instance of the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Resume as MASTER, VIPs kept.
    Master(String),
    /// Too late: a backup may have taken over; start as BACKUP. The
    /// instance, and how many ms after its deadline the restart came.
    TooLate(String, u64),
    /// The instance is not in the new configuration.
    Unknown(String),
}

impl Record {
    /// The decision for each MASTER of the record at `now_ms`, given the
    /// instance names of the new configuration.
    pub fn resume(&self, now_ms: u64, configured: &[&str]) -> Vec<Resume> {
        self.masters
            .iter()
            .map(|m| {
                if !configured.contains(&m.name.as_str()) {
                    Resume::Unknown(m.name.clone())
                } else if now_ms <= m.resume_until_ms {
                    Resume::Master(m.name.clone())
                } else {
                    Resume::TooLate(m.name.clone(), now_ms - m.resume_until_ms)
                }
            })
            .collect()
    }
}

impl std::fmt::Display for Resume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resume::Master(n) => write!(
                f,
                "VRRP {n}: was MASTER before the restart, resuming as MASTER (VIPs kept)"
            ),
            Resume::TooLate(n, late) => write!(
                f,
                "VRRP {n}: was MASTER before the restart, but the restart took {late} ms longer than its master down interval (a backup may hold the VIPs): starting as BACKUP"
            ),
            Resume::Unknown(n) => write!(
                f,
                "VRRP {n}: was MASTER before the restart and is no longer configured"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            pid: 1,
            version: "0".into(),
            stopped_at_ms: 1_000,
            config_file: "/etc/keepalived/keepalived.conf".into(),
            iface: Some("eth1".into()),
            xdp_mode: Some("generic".into()),
            pin_dir: None,
            masters: vec![
                Master {
                    name: "VI_1".into(),
                    resume_until_ms: 4_609,
                },
                Master {
                    name: "VI_2".into(),
                    resume_until_ms: 2_000,
                },
            ],
        }
    }

    #[test]
    fn resumes_within_the_master_down_interval_only() {
        let r = record();
        assert_eq!(
            r.resume(3_000, &["VI_1", "VI_2"]),
            vec![
                Resume::Master("VI_1".into()),
                Resume::TooLate("VI_2".into(), 1_000)
            ]
        );
        assert_eq!(
            r.resume(4_609, &["VI_1"]),
            vec![
                Resume::Master("VI_1".into()),
                Resume::Unknown("VI_2".into())
            ]
        );
        assert_eq!(
            r.resume(4_610, &["VI_1", "VI_2"])[0],
            Resume::TooLate("VI_1".into(), 1)
        );
    }
}
