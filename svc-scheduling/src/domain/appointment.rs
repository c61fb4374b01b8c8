//! An appointment (a hold is an appointment in status `held`) and the changes it goes through:
//! what each change makes of it, or why the state machine refuses it. No I/O: the use case
//! reads the appointment, asks [`Change::apply`], and writes the answer.

use chrono::{DateTime, Utc};

use super::{Caller, Reach, Status, calendar::Slot};

/// An appointment as it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    pub appointment_id: String,
    pub doctor_id: String,
    pub patient_id: String,
    pub clinic_id: String,
    pub cabinet_id: String,
    pub time_zone: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub status: Status,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub reason: String,
    pub cancellation_reason: String,
    pub override_reason: String,
    pub waitlist_entry_id: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// Where a rescheduled appointment goes: a slot of a doctor at their clinic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub doctor_id: String,
    pub clinic_id: String,
    pub time_zone: String,
    pub slot: Slot,
}

/// A change to an existing appointment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The caller's hold becomes a booking (with the booking's reason).
    BookHold {
        reason: String,
    },
    Cancel {
        reason: String,
    },
    /// Confirm, check in, complete, no-show ([`Status::VISIT`]).
    Advance {
        to: Status,
        reason: String,
    },
    /// To another slot, of the same or another doctor; the clinic confirms the new time.
    Reschedule {
        to: Box<Placement>,
    },
}

/// Why the appointment cannot go through a change as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the appointment is {}, not held", .0.as_str())]
    NotHeld(Status),
    #[error("the hold expired; hold the slot again")]
    HoldExpired,
    #[error("a {} appointment cannot become {}", .from.as_str(), .to.as_str())]
    IllegalTransition { from: Status, to: Status },
    #[error("a {} appointment cannot be {action}", .from.as_str())]
    NotNow { from: Status, action: &'static str },
}

impl Change {
    /// Whether `caller`, with `reach` for the change's operation, may make it to `a`. Status
    /// changes are staff's, over the doctor's calendar or clinic, and never on their own
    /// appointment as its patient; the others reach the caller's own appointments too.
    pub fn within_reach(&self, caller: &Caller, reach: Reach, a: &Appointment) -> bool {
        match self {
            Change::Advance { .. } => {
                caller.may_change_status(reach, &a.patient_id, &a.doctor_id, &a.clinic_id)
            }
            _ => caller.reaches(reach, &a.patient_id, &a.doctor_id, &a.clinic_id),
        }
    }

    /// The appointment after the change at `now`, if the state machine allows it from `before`:
    /// the next version, with the change's status and fields.
    pub fn apply(&self, before: &Appointment, now: DateTime<Utc>) -> Result<Appointment, Refusal> {
        let next = Appointment {
            updated_at: now,
            version: before.version + 1,
            ..before.clone()
        };
        match self {
            Change::BookHold { reason } => {
                if before.status != Status::Held {
                    return Err(Refusal::NotHeld(before.status));
                }
                if before.hold_expires_at.is_none_or(|at| at <= now) {
                    return Err(Refusal::HoldExpired);
                }
                Ok(Appointment {
                    status: Status::Booked,
                    hold_expires_at: None,
                    reason: reason.clone(),
                    ..next
                })
            }
            Change::Cancel { reason } => {
                if !before.status.can_become(Status::Cancelled) {
                    return Err(Refusal::NotNow {
                        from: before.status,
                        action: "cancelled",
                    });
                }
                Ok(Appointment {
                    status: Status::Cancelled,
                    cancellation_reason: reason.clone(),
                    hold_expires_at: None,
                    ..next
                })
            }
            Change::Advance { to, .. } => {
                if !Status::VISIT.contains(to) || !before.status.can_become(*to) {
                    return Err(Refusal::IllegalTransition {
                        from: before.status,
                        to: *to,
                    });
                }
                Ok(Appointment {
                    status: *to,
                    ..next
                })
            }
            Change::Reschedule { to } => {
                if !before.status.can_reschedule() {
                    return Err(Refusal::NotNow {
                        from: before.status,
                        action: "rescheduled",
                    });
                }
                Ok(Appointment {
                    doctor_id: to.doctor_id.clone(),
                    clinic_id: to.clinic_id.clone(),
                    cabinet_id: to.slot.cabinet_id.clone(),
                    time_zone: to.time_zone.clone(),
                    starts_at: to.slot.start,
                    ends_at: to.slot.end,
                    status: Status::Booked,
                    override_reason: String::new(),
                    ..next
                })
            }
        }
    }

    /// The action a patient must take before the clinic's cut-off, if this is one.
    pub fn cutoff_action(&self) -> Option<&'static str> {
        match self {
            Change::Cancel { .. } => Some("cancel"),
            Change::Reschedule { .. } => Some("reschedule"),
            Change::BookHold { .. } | Change::Advance { .. } => None,
        }
    }

    /// The event (and audit action) of the change that made `after`.
    pub fn event_name(&self, after: &Appointment) -> &'static str {
        match self {
            Change::Reschedule { .. } => "appointment.rescheduled",
            _ => after.status.event_name(),
        }
    }

    /// What the audit entry says: the reason given with the change.
    pub fn audit_reason(&self) -> &str {
        match self {
            Change::Cancel { reason } | Change::Advance { reason, .. } => reason,
            Change::BookHold { .. } | Change::Reschedule { .. } => "",
        }
    }

    /// Whether the change gives the appointment's old time back (to the waitlist).
    pub fn frees_time(&self) -> bool {
        matches!(self, Change::Cancel { .. } | Change::Reschedule { .. })
    }

    /// Whether a doctor's free slots read before the change may be stale after it.
    pub fn changes_free_time(&self) -> bool {
        match self {
            Change::Advance { to, .. } => *to == Status::NoShow,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn appointment(status: Status, now: DateTime<Utc>) -> Appointment {
        Appointment {
            appointment_id: "a".into(),
            doctor_id: "d".into(),
            patient_id: "p".into(),
            clinic_id: "c".into(),
            cabinet_id: "k".into(),
            time_zone: "Europe/Kyiv".into(),
            starts_at: now + Duration::days(1),
            ends_at: now + Duration::days(1) + Duration::minutes(30),
            status,
            hold_expires_at: (status == Status::Held).then(|| now + Duration::minutes(10)),
            reason: String::new(),
            cancellation_reason: String::new(),
            override_reason: "urgent".into(),
            waitlist_entry_id: String::new(),
            created_by: "s".into(),
            created_at: now,
            updated_at: now,
            version: 3,
        }
    }

    fn changes(now: DateTime<Utc>) -> Vec<Change> {
        let mut all = vec![
            Change::BookHold { reason: "r".into() },
            Change::Cancel { reason: "r".into() },
            Change::Reschedule {
                to: Box::new(Placement {
                    doctor_id: "d2".into(),
                    clinic_id: "c2".into(),
                    time_zone: "UTC".into(),
                    slot: Slot {
                        start: now + Duration::days(2),
                        end: now + Duration::days(2) + Duration::minutes(20),
                        cabinet_id: "k2".into(),
                    },
                }),
            },
        ];
        all.extend(Status::ALL.map(|to| Change::Advance {
            to,
            reason: String::new(),
        }));
        all
    }

    /// Every change from every status: it goes through exactly when the state machine allows
    /// it, lands in a status the machine allows (a move lands in booked), keeps whose it is, and
    /// moves its version on by one.
    #[test]
    fn every_change_follows_the_state_machine() {
        let now = Utc::now();
        for from in Status::ALL {
            let before = appointment(from, now);
            for change in changes(now) {
                let allowed = match &change {
                    Change::BookHold { .. } => from == Status::Held,
                    Change::Cancel { .. } => from.can_become(Status::Cancelled),
                    Change::Advance { to, .. } => {
                        Status::VISIT.contains(to) && from.can_become(*to)
                    }
                    Change::Reschedule { .. } => from.can_reschedule(),
                };
                match change.apply(&before, now) {
                    Ok(after) => {
                        assert!(allowed, "{from:?} {change:?}");
                        // A moved appointment is booked again: the clinic confirms the new time.
                        let moved = matches!(change, Change::Reschedule { .. })
                            && after.status == Status::Booked;
                        assert!(
                            moved || from.can_become(after.status),
                            "{from:?} -> {:?}",
                            after.status
                        );
                        assert_eq!(after.version, before.version + 1);
                        assert_eq!(after.appointment_id, before.appointment_id);
                        assert_eq!(after.patient_id, before.patient_id);
                        assert_eq!(after.updated_at, now);
                        assert_eq!(
                            after.hold_expires_at.is_some(),
                            after.status == Status::Held
                        );
                    }
                    Err(_) => assert!(!allowed, "{from:?} {change:?}"),
                }
            }
        }
    }

    #[test]
    fn an_expired_hold_cannot_be_booked_and_a_move_is_booked_again() {
        let now = Utc::now();
        let mut hold = appointment(Status::Held, now);
        hold.hold_expires_at = Some(now);
        let book = Change::BookHold { reason: "r".into() };
        assert_eq!(book.apply(&hold, now), Err(Refusal::HoldExpired));
        let confirmed = appointment(Status::Confirmed, now);
        let moved = changes(now)[2].apply(&confirmed, now).unwrap();
        assert_eq!(moved.status, Status::Booked);
        assert_eq!(moved.doctor_id, "d2");
        assert_eq!(
            moved.override_reason, "",
            "an override does not travel to the new time"
        );
    }
}
