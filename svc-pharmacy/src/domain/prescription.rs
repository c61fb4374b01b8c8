//! A prescription's life: issued → (in progress) → dispensed / partially dispensed / rejected /
//! cancelled / expired, and how a dispense request becomes a plan (all or nothing; part only
//! where the prescription allows it).

use svc_kit::error::FieldViolation;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Issued,
    InProgress,
    PartiallyDispensed,
    Dispensed,
    Rejected,
    Cancelled,
    Expired,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Issued,
        Status::InProgress,
        Status::PartiallyDispensed,
        Status::Dispensed,
        Status::Rejected,
        Status::Cancelled,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Issued => "issued",
            Status::InProgress => "in_progress",
            Status::PartiallyDispensed => "partially_dispensed",
            Status::Dispensed => "dispensed",
            Status::Rejected => "rejected",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Still to be filled (its reservation held): issued, in progress, partially dispensed.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Status::Issued | Status::InProgress | Status::PartiallyDispensed
        )
    }

    /// Whether a change may happen in this state; the refusal names the state otherwise.
    pub fn allows(self, change: Change) -> Result<(), Refusal> {
        let ok = match change {
            // Nothing has been given yet, and no pharmacist has started on it.
            Change::MovePharmacy => self == Status::Issued,
            Change::Start => matches!(self, Status::Issued | Status::PartiallyDispensed),
            Change::Dispense | Change::Reject => self.is_open(),
            // The prescriber withdraws what was not given yet.
            Change::Cancel => self.is_open(),
            Change::Expire => self.is_open(),
        };
        if ok {
            Ok(())
        } else {
            Err(Refusal {
                change,
                status: self,
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    MovePharmacy,
    Start,
    Dispense,
    Reject,
    Cancel,
    Expire,
}

impl Change {
    fn describe(self) -> &'static str {
        match self {
            Change::MovePharmacy => "moved to another pharmacy",
            Change::Start => "started",
            Change::Dispense => "dispensed",
            Change::Reject => "rejected",
            Change::Cancel => "cancelled",
            Change::Expire => "expired",
        }
    }
}

/// A change the prescription's state forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {} prescription cannot be {}", .status.as_str().replace('_', " "), .change.describe())]
pub struct Refusal {
    pub change: Change,
    pub status: Status,
}

/// An item as a dispense sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemState {
    pub item_id: String,
    pub quantity: i64,
    pub dispensed: i64,
}

impl ItemState {
    pub fn owed(&self) -> i64 {
        self.quantity - self.dispensed
    }
}

/// One line of a dispense request: `quantity` 0 means everything owed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestedLine {
    pub item_id: String,
    pub quantity: i64,
    pub substitute: Option<String>,
}

/// What a dispense will give, item by item (index into the prescription's items).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedLine {
    pub index: usize,
    pub quantity: i64,
    pub substitute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispensePlan {
    pub lines: Vec<PlannedLine>,
    /// Everything owed is given by this plan.
    pub completes: bool,
}

/// Plans a dispense of `requested` (empty: every item in full) against `items`.
pub fn plan_dispense(
    items: &[ItemState],
    requested: &[RequestedLine],
    allow_partial: bool,
) -> Result<DispensePlan, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let mut lines: Vec<PlannedLine> = Vec::new();
    if requested.is_empty() {
        lines = items
            .iter()
            .enumerate()
            .filter(|(_, item)| item.owed() > 0)
            .map(|(index, item)| PlannedLine {
                index,
                quantity: item.owed(),
                substitute: None,
            })
            .collect();
    } else {
        for (n, line) in requested.iter().enumerate() {
            let field = |name: &str| format!("lines[{n}].{name}");
            let Some(index) = items.iter().position(|i| i.item_id == line.item_id) else {
                violations.push(FieldViolation::new(
                    field("item_id"),
                    "is not an item of this prescription",
                ));
                continue;
            };
            if lines.iter().any(|l| l.index == index) {
                violations.push(FieldViolation::new(field("item_id"), "is given twice"));
                continue;
            }
            let owed = items[index].owed();
            let quantity = if line.quantity == 0 {
                owed
            } else {
                line.quantity
            };
            if owed == 0 {
                violations.push(FieldViolation::new(
                    field("item_id"),
                    "has been dispensed in full already",
                ));
            } else if quantity < 0 || quantity > owed {
                violations.push(FieldViolation::new(
                    field("quantity"),
                    format!("must be between 1 and {owed} (what is still owed)"),
                ));
            } else {
                lines.push(PlannedLine {
                    index,
                    quantity,
                    substitute: line.substitute.clone(),
                });
            }
        }
    }
    let given = |index: usize| {
        lines
            .iter()
            .find(|l| l.index == index)
            .map_or(0, |l| l.quantity)
    };
    let completes = items
        .iter()
        .enumerate()
        .all(|(index, item)| given(index) == item.owed());
    if violations.is_empty() && !completes && !allow_partial {
        violations.push(FieldViolation::new(
            "lines",
            "this prescription must be dispensed in full: every item, every unit owed",
        ));
    }
    if violations.is_empty() && lines.is_empty() {
        violations.push(FieldViolation::new(
            "lines",
            "nothing is owed on this prescription",
        ));
    }
    if violations.is_empty() {
        Ok(DispensePlan { lines, completes })
    } else {
        Err(violations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<ItemState> {
        vec![
            ItemState {
                item_id: "a".into(),
                quantity: 10,
                dispensed: 0,
            },
            ItemState {
                item_id: "b".into(),
                quantity: 4,
                dispensed: 1,
            },
        ]
    }

    fn line(item: &str, quantity: i64) -> RequestedLine {
        RequestedLine {
            item_id: item.into(),
            quantity,
            substitute: None,
        }
    }

    #[test]
    fn an_empty_request_gives_everything_owed() {
        let plan = plan_dispense(&items(), &[], false).unwrap();
        assert!(plan.completes);
        assert_eq!(
            plan.lines.iter().map(|l| l.quantity).collect::<Vec<_>>(),
            [10, 3]
        );
    }

    #[test]
    fn part_only_where_allowed() {
        let partial = [line("a", 5)];
        let refused = plan_dispense(&items(), &partial, false).unwrap_err();
        assert_eq!(refused[0].field, "lines");
        let plan = plan_dispense(&items(), &partial, true).unwrap();
        assert!(!plan.completes);
        assert_eq!(plan.lines[0].quantity, 5);
    }

    #[test]
    fn bad_lines_are_named() {
        let bad = [line("a", 11), line("zz", 1), line("b", 0), line("b", 1)];
        let violations = plan_dispense(&items(), &bad, true).unwrap_err();
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["lines[0].quantity", "lines[1].item_id", "lines[3].item_id"]
        );
    }

    #[test]
    fn the_state_machine() {
        assert!(Status::Issued.allows(Change::MovePharmacy).is_ok());
        assert!(Status::InProgress.allows(Change::MovePharmacy).is_err());
        assert!(Status::PartiallyDispensed.allows(Change::Dispense).is_ok());
        for done in [
            Status::Dispensed,
            Status::Rejected,
            Status::Cancelled,
            Status::Expired,
        ] {
            for change in [
                Change::Dispense,
                Change::Reject,
                Change::Cancel,
                Change::Start,
            ] {
                assert!(done.allows(change).is_err(), "{done:?} {change:?}");
            }
        }
        assert_eq!(
            Status::Dispensed
                .allows(Change::Cancel)
                .unwrap_err()
                .to_string(),
            "a dispensed prescription cannot be cancelled"
        );
    }
}
