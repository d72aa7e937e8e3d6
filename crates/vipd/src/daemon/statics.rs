//! `static_ipaddress`, `static_routes` and `static_rules`: added at start
//! (whatever VRRP does), changed by a reload, removed at stop, as keepalived
//! does. A restart (`QUIT`) leaves them for the next vipd, which applies them
//! again (idempotently). The commands come from `vipd_core::statics`.

use tracing::{info, warn};
use vipd_core::statics::{Item, Kind};

use super::status;

/// The static items and what applying each gave.
#[derive(Debug, Default)]
pub struct StaticsPart {
    items: Vec<(Item, Result<(), String>)>,
}

fn ip(args: &[String]) -> Result<(), String> {
    crate::datapath::neigh::ip(args)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn add(item: &Item) -> Result<(), String> {
    // `ip rule add` twice makes two rules: remove a previous one first.
    if item.kind == Kind::Rule {
        let _ = ip(&item.del);
    }
    let r = ip(&item.add);
    match &r {
        Ok(()) => info!("{}: added {}", item.kind.keyword(), item.describe()),
        Err(e) => warn!(
            "{}: cannot add {}: {e}",
            item.kind.keyword(),
            item.describe()
        ),
    }
    r
}

fn remove(item: &Item) {
    match ip(&item.del) {
        Ok(()) => info!("{}: removed {}", item.kind.keyword(), item.describe()),
        Err(e) => warn!(
            "{}: cannot remove {}: {e}",
            item.kind.keyword(),
            item.describe()
        ),
    }
}

impl StaticsPart {
    /// Adds every item.
    pub fn apply(items: Vec<Item>) -> Self {
        Self {
            items: items
                .into_iter()
                .map(|i| {
                    let r = add(&i);
                    (i, r)
                })
                .collect(),
        }
    }

    /// A reload: removes the items no longer configured, adds the new ones,
    /// leaves the others alone.
    pub fn reload(&mut self, items: Vec<Item>) {
        let old = std::mem::take(&mut self.items);
        for (i, r) in &old {
            if r.is_ok() && !items.iter().any(|n| n.add == i.add) {
                remove(i);
            }
        }
        self.items = items
            .into_iter()
            .map(
                |i| match old.iter().find(|(o, r)| o.add == i.add && r.is_ok()) {
                    Some((_, r)) => (i, r.clone()),
                    None => {
                        let r = add(&i);
                        (i, r)
                    }
                },
            )
            .collect();
    }

    /// Removes what was added, last first (rules before the routes they use).
    pub fn remove_all(self) {
        for (i, r) in self.items.iter().rev() {
            if r.is_ok() {
                remove(i);
            }
        }
    }

    /// For `vipd status`.
    pub fn status(&self) -> Vec<status::StaticItem> {
        self.items
            .iter()
            .map(|(i, r)| status::StaticItem {
                block: i.kind.keyword().to_owned(),
                item: i.describe(),
                applied: r.is_ok(),
                error: r.as_ref().err().cloned(),
            })
            .collect()
    }
}
