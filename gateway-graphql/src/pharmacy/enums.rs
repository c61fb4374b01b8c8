//! The pharmacy contract's enums as the graph names them. An UNSPECIFIED value, or one this
//! build does not know, reads as `null`.

use async_graphql::Enum;
use medmesh_proto::pharmacy::v1 as pb;

/// Where a prescription is in its life.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrescriptionStatus {
    /// Written; its stock is reserved at its pharmacy (what was available of it).
    Issued,
    /// A pharmacist is preparing it.
    InProgress,
    /// Part given; the rest is owed (and stays reserved).
    PartiallyDispensed,
    Dispensed,
    Rejected,
    Cancelled,
    Expired,
}

impl PrescriptionStatus {
    /// Whether nothing can happen to the prescription any more.
    pub fn is_terminal(self) -> bool {
        match self {
            PrescriptionStatus::Dispensed
            | PrescriptionStatus::Rejected
            | PrescriptionStatus::Cancelled
            | PrescriptionStatus::Expired => true,
            PrescriptionStatus::Issued
            | PrescriptionStatus::InProgress
            | PrescriptionStatus::PartiallyDispensed => false,
        }
    }

    pub(super) fn to_proto(self) -> pb::PrescriptionStatus {
        match self {
            PrescriptionStatus::Issued => pb::PrescriptionStatus::Issued,
            PrescriptionStatus::InProgress => pb::PrescriptionStatus::InProgress,
            PrescriptionStatus::PartiallyDispensed => pb::PrescriptionStatus::PartiallyDispensed,
            PrescriptionStatus::Dispensed => pb::PrescriptionStatus::Dispensed,
            PrescriptionStatus::Rejected => pb::PrescriptionStatus::Rejected,
            PrescriptionStatus::Cancelled => pb::PrescriptionStatus::Cancelled,
            PrescriptionStatus::Expired => pb::PrescriptionStatus::Expired,
        }
    }

    pub(super) fn from_proto(raw: i32) -> Option<PrescriptionStatus> {
        Some(match pb::PrescriptionStatus::try_from(raw).ok()? {
            pb::PrescriptionStatus::Unspecified => return None,
            pb::PrescriptionStatus::Issued => PrescriptionStatus::Issued,
            pb::PrescriptionStatus::InProgress => PrescriptionStatus::InProgress,
            pb::PrescriptionStatus::PartiallyDispensed => PrescriptionStatus::PartiallyDispensed,
            pb::PrescriptionStatus::Dispensed => PrescriptionStatus::Dispensed,
            pb::PrescriptionStatus::Rejected => PrescriptionStatus::Rejected,
            pb::PrescriptionStatus::Cancelled => PrescriptionStatus::Cancelled,
            pb::PrescriptionStatus::Expired => PrescriptionStatus::Expired,
        })
    }
}

/// Whether a medication can be had at a pharmacy, without quantities.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    InStock,
    /// Available, but at or below the pharmacy's critical threshold.
    Low,
    OutOfStock,
}

impl Availability {
    pub(super) fn from_proto(raw: i32) -> Option<Availability> {
        Some(match pb::Availability::try_from(raw).ok()? {
            pb::Availability::Unspecified => return None,
            pb::Availability::InStock => Availability::InStock,
            pb::Availability::Low => Availability::Low,
            pb::Availability::OutOfStock => Availability::OutOfStock,
        })
    }
}

/// Why stock was corrected by hand.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustmentReason {
    Breakage,
    CountCorrection,
    Expired,
    Returned,
}

impl AdjustmentReason {
    pub(super) fn to_proto(self) -> pb::AdjustmentReason {
        match self {
            AdjustmentReason::Breakage => pb::AdjustmentReason::Breakage,
            AdjustmentReason::CountCorrection => pb::AdjustmentReason::CountCorrection,
            AdjustmentReason::Expired => pb::AdjustmentReason::Expired,
            AdjustmentReason::Returned => pb::AdjustmentReason::Returned,
        }
    }

    pub(super) fn from_proto(raw: i32) -> Option<AdjustmentReason> {
        Some(match pb::AdjustmentReason::try_from(raw).ok()? {
            pb::AdjustmentReason::Unspecified => return None,
            pb::AdjustmentReason::Breakage => AdjustmentReason::Breakage,
            pb::AdjustmentReason::CountCorrection => AdjustmentReason::CountCorrection,
            pb::AdjustmentReason::Expired => AdjustmentReason::Expired,
            pb::AdjustmentReason::Returned => AdjustmentReason::Returned,
        })
    }
}

/// What moved stock: a receipt, a correction, or a dispense.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovementKind {
    Received,
    Adjusted,
    Dispensed,
}

impl MovementKind {
    pub(super) fn from_proto(raw: i32) -> Option<MovementKind> {
        Some(match pb::MovementKind::try_from(raw).ok()? {
            pb::MovementKind::Unspecified => return None,
            pb::MovementKind::Received => MovementKind::Received,
            pb::MovementKind::Adjusted => MovementKind::Adjusted,
            pb::MovementKind::Dispensed => MovementKind::Dispensed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_cross_the_wire_both_ways() {
        for status in [
            PrescriptionStatus::Issued,
            PrescriptionStatus::InProgress,
            PrescriptionStatus::PartiallyDispensed,
            PrescriptionStatus::Dispensed,
            PrescriptionStatus::Rejected,
            PrescriptionStatus::Cancelled,
            PrescriptionStatus::Expired,
        ] {
            assert_eq!(
                PrescriptionStatus::from_proto(status.to_proto() as i32),
                Some(status)
            );
        }
        assert_eq!(PrescriptionStatus::from_proto(0), None);
        assert_eq!(PrescriptionStatus::from_proto(99), None);
    }

    #[test]
    fn only_dispensed_rejected_cancelled_and_expired_are_terminal() {
        let terminal: Vec<_> = [
            PrescriptionStatus::Issued,
            PrescriptionStatus::InProgress,
            PrescriptionStatus::PartiallyDispensed,
            PrescriptionStatus::Dispensed,
            PrescriptionStatus::Rejected,
            PrescriptionStatus::Cancelled,
            PrescriptionStatus::Expired,
        ]
        .into_iter()
        .filter(|s| s.is_terminal())
        .collect();
        assert_eq!(
            terminal,
            [
                PrescriptionStatus::Dispensed,
                PrescriptionStatus::Rejected,
                PrescriptionStatus::Cancelled,
                PrescriptionStatus::Expired
            ]
        );
    }

    #[test]
    fn reasons_cross_the_wire_both_ways() {
        for reason in [
            AdjustmentReason::Breakage,
            AdjustmentReason::CountCorrection,
            AdjustmentReason::Expired,
            AdjustmentReason::Returned,
        ] {
            assert_eq!(
                AdjustmentReason::from_proto(reason.to_proto() as i32),
                Some(reason)
            );
        }
    }
}
