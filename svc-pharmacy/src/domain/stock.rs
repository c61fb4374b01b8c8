//! How a stock line reads: what is available, whether it is low, how much of a request can be
//! reserved, and which lots a removal draws from.

use chrono::{DateTime, Utc};

/// One pharmacy's stock of one medication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Line {
    pub on_hand: i64,
    pub reserved: i64,
    pub critical_threshold: i64,
}

/// In stock, low or out, as partners and patients see it (no quantities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    InStock,
    Low,
    Out,
}

impl Line {
    /// What may still be promised: on hand less what prescriptions hold.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }

    /// At or below the critical threshold (a line without stock is low too).
    pub fn is_low(&self) -> bool {
        self.available() <= self.critical_threshold
    }

    pub fn availability(&self) -> Availability {
        if self.available() <= 0 {
            Availability::Out
        } else if self.is_low() {
            Availability::Low
        } else {
            Availability::InStock
        }
    }

    /// How much of `wanted` can be reserved now, and what is short.
    pub fn reservable(&self, wanted: i64) -> (i64, i64) {
        let reserved = wanted.clamp(0, self.available().max(0));
        (reserved, wanted - reserved)
    }
}

/// A lot as a removal sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotLeft {
    pub lot: String,
    pub quantity: i64,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Which lots `quantity` units come out of: the earliest-expiring first (lots without an expiry
/// last), then by lot name. `None` when the lots hold less than `quantity`.
pub fn draw(lots: &[LotLeft], quantity: i64) -> Option<Vec<(String, i64)>> {
    let mut ordered: Vec<&LotLeft> = lots.iter().filter(|l| l.quantity > 0).collect();
    ordered.sort_by(|a, b| {
        (a.expires_at.is_none(), a.expires_at, &a.lot).cmp(&(
            b.expires_at.is_none(),
            b.expires_at,
            &b.lot,
        ))
    });
    let mut left = quantity;
    let mut taken = Vec::new();
    for lot in ordered {
        if left == 0 {
            break;
        }
        let take = lot.quantity.min(left);
        taken.push((lot.lot.clone(), take));
        left -= take;
    }
    (left == 0).then_some(taken)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn availability_and_reservations() {
        let line = Line {
            on_hand: 10,
            reserved: 7,
            critical_threshold: 2,
        };
        assert_eq!(line.available(), 3);
        assert_eq!(line.availability(), Availability::InStock);
        assert_eq!(line.reservable(5), (3, 2));
        assert_eq!(line.reservable(2), (2, 0));
        let low = Line {
            reserved: 8,
            ..line
        };
        assert_eq!(low.availability(), Availability::Low);
        let out = Line {
            reserved: 10,
            ..line
        };
        assert_eq!(out.availability(), Availability::Out);
        assert_eq!(out.reservable(4), (0, 4));
    }

    #[test]
    fn removals_draw_the_earliest_expiring_lots_first() {
        let at = |m| Some(Utc.with_ymd_and_hms(2027, m, 1, 0, 0, 0).unwrap());
        let lots = vec![
            LotLeft {
                lot: "C".into(),
                quantity: 5,
                expires_at: None,
            },
            LotLeft {
                lot: "B".into(),
                quantity: 3,
                expires_at: at(6),
            },
            LotLeft {
                lot: "A".into(),
                quantity: 2,
                expires_at: at(3),
            },
        ];
        assert_eq!(
            draw(&lots, 6),
            Some(vec![("A".into(), 2), ("B".into(), 3), ("C".into(), 1)])
        );
        assert_eq!(draw(&lots, 11), None);
        assert_eq!(draw(&lots, 0), Some(vec![]));
    }
}
