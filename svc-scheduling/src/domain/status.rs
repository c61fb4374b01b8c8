//! The appointment state machine.
//!
//! ```text
//! held ──▶ booked ──▶ confirmed ──▶ checked_in ──▶ completed
//!  │         │  │         │  │
//!  ▼         │  └──────┐  │  └──▶ no_show
//! expired    ▼         ▼  ▼
//!        cancelled   checked_in / no_show
//! ```

/// Where an appointment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Held,
    Booked,
    Confirmed,
    CheckedIn,
    Completed,
    Cancelled,
    NoShow,
    Expired,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Held,
        Status::Booked,
        Status::Confirmed,
        Status::CheckedIn,
        Status::Completed,
        Status::Cancelled,
        Status::NoShow,
        Status::Expired,
    ];

    /// The statuses that occupy the doctor's and the patient's time. The database's exclusion
    /// constraints name the same list.
    pub const OCCUPYING: [Status; 5] = [
        Status::Held,
        Status::Booked,
        Status::Confirmed,
        Status::CheckedIn,
        Status::Completed,
    ];

    /// The steps of the visit itself, which staff move an appointment through.
    pub const VISIT: [Status; 4] = [
        Status::Confirmed,
        Status::CheckedIn,
        Status::Completed,
        Status::NoShow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Held => "held",
            Status::Booked => "booked",
            Status::Confirmed => "confirmed",
            Status::CheckedIn => "checked_in",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
            Status::NoShow => "no_show",
            Status::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn occupies_time(self) -> bool {
        Status::OCCUPYING.contains(&self)
    }

    /// Whether the appointment may move from `self` to `next`.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Held, Booked | Expired | Cancelled)
                | (Booked, Confirmed | CheckedIn | Cancelled | NoShow)
                | (Confirmed, CheckedIn | Cancelled | NoShow)
                | (CheckedIn, Completed)
        )
    }

    /// Booked or confirmed: still ahead, so it may be moved to another time.
    pub fn can_reschedule(self) -> bool {
        matches!(self, Status::Booked | Status::Confirmed)
    }

    /// The event type suffix for arriving in this status.
    pub fn event_name(self) -> &'static str {
        match self {
            Status::Held => "appointment.held",
            Status::Booked => "appointment.booked",
            Status::Confirmed => "appointment.confirmed",
            Status::CheckedIn => "appointment.checked_in",
            Status::Completed => "appointment.completed",
            Status::Cancelled => "appointment.cancelled",
            Status::NoShow => "appointment.no_show",
            Status::Expired => "hold.expired",
        }
    }
}

/// The SQL list of occupying statuses, for `status IN (...)`.
pub fn occupying_sql() -> String {
    Status::OCCUPYING
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("BOOKED"), None);
    }

    #[test]
    fn finished_appointments_go_nowhere() {
        for end in [
            Status::Completed,
            Status::Cancelled,
            Status::NoShow,
            Status::Expired,
        ] {
            for next in Status::ALL {
                assert!(!end.can_become(next), "{end:?} -> {next:?}");
            }
        }
    }

    #[test]
    fn the_happy_path_is_allowed_and_skipping_ahead_is_not() {
        assert!(Status::Held.can_become(Status::Booked));
        assert!(Status::Booked.can_become(Status::Confirmed));
        assert!(Status::Confirmed.can_become(Status::CheckedIn));
        assert!(Status::CheckedIn.can_become(Status::Completed));
        assert!(!Status::Booked.can_become(Status::Completed));
        assert!(!Status::Held.can_become(Status::Confirmed));
        assert!(!Status::CheckedIn.can_become(Status::Cancelled));
    }
}
