//! `vrrp_script` verdicts: `rise` consecutive successes make a script up, `fall`
//! consecutive failures make it down (keepalived's semantics). The IO shell runs
//! the script every `interval` with its `timeout` (a timeout is a failure) and
//! feeds each result here; a flip is passed on to the instances with
//! [`super::Instance::set_tracked`].

/// The up/down verdict of one `vrrp_script`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptVerdict {
    rise: u32,
    fall: u32,
    up: bool,
    /// Consecutive results that disagree with `up`.
    streak: u32,
}

impl ScriptVerdict {
    /// A verdict with `rise`/`fall` (0 is taken as 1). keepalived counts a script
    /// as up until it fails, unless `init_fail` is set.
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> Self {
        Self {
            rise: rise.max(1),
            fall: fall.max(1),
            up: !init_fail,
            streak: 0,
        }
    }

    /// Whether the script counts as up.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Records one run's result; returns the new verdict when it flips.
    pub fn observe(&mut self, ok: bool) -> Option<bool> {
        if ok == self.up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if ok { self.rise } else { self.fall };
        if self.streak >= needed {
            self.up = ok;
            self.streak = 0;
            Some(ok)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rise_and_fall() {
        let mut v = ScriptVerdict::new(2, 3, false);
        assert!(v.is_up());
        assert_eq!(v.observe(false), None);
        assert_eq!(v.observe(false), None);
        assert_eq!(v.observe(true), None, "a success resets the failure streak");
        assert_eq!(v.observe(false), None);
        assert_eq!(v.observe(false), None);
        assert_eq!(v.observe(false), Some(false));
        assert_eq!(v.observe(true), None);
        assert_eq!(v.observe(true), Some(true));
    }

    #[test]
    fn init_fail_starts_down() {
        let mut v = ScriptVerdict::new(1, 1, true);
        assert!(!v.is_up());
        assert_eq!(v.observe(true), Some(true));
    }
}
