//! `uthreshold` / `lthreshold`: IPVS's overloaded real servers. A real server
//! with at least `uthreshold` connections (active and inactive) takes no new
//! connection until it has fewer than `lthreshold` (three quarters of
//! `uthreshold` when `lthreshold` is not set); its connections carry on. vipd
//! decides this from the connection counts the daemon reads each second, so a
//! burst can overshoot the threshold by up to a second's new connections.

/// A real server's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    /// `uthreshold` (0: none).
    pub upper: u32,
    /// `lthreshold` (0: three quarters of `upper`).
    pub lower: u32,
}

impl Threshold {
    /// Whether the real server is overloaded with `conns` connections, given
    /// whether it was.
    pub fn overloaded(self, was: bool, conns: u64) -> bool {
        if self.upper == 0 {
            return false;
        }
        if !was {
            conns >= u64::from(self.upper)
        } else if self.lower > 0 {
            conns >= u64::from(self.lower)
        } else {
            // IPVS: clear when conns * 4 < upper * 3.
            conns * 4 >= u64::from(self.upper) * 3
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overloaded_at_the_upper_threshold_until_below_the_lower() {
        let t = Threshold {
            upper: 10,
            lower: 4,
        };
        assert!(!t.overloaded(false, 9));
        assert!(t.overloaded(false, 10));
        assert!(t.overloaded(true, 5));
        assert!(t.overloaded(true, 4));
        assert!(!t.overloaded(true, 3));
        // No lower threshold: three quarters of the upper one.
        let t = Threshold { upper: 8, lower: 0 };
        assert!(t.overloaded(true, 6));
        assert!(!t.overloaded(true, 5));
        // No upper threshold: never.
        assert!(!Threshold { upper: 0, lower: 3 }.overloaded(true, 1_000));
    }
}
