//! The notify contract's enums as the graph names them. An UNSPECIFIED value, or one this
//! build does not know, reads as `null`.

use async_graphql::Enum;
use medmesh_proto::notify::v1 as pb;

/// What a notification is about; preferences and templates are per kind.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    /// To patients: an appointment was booked.
    AppointmentBooked,
    /// To patients: an appointment moved.
    AppointmentRescheduled,
    /// To patients: an appointment was cancelled.
    AppointmentCancelled,
    /// To patients: an appointment is coming (as long before as their preferences say).
    AppointmentReminder,
    /// To patients: a slot they waited for is free for them.
    WaitlistOffer,
    /// To patients: a prescription is ready at the pharmacy.
    PrescriptionReady,
    /// To patients: the pharmacy rejected a prescription.
    PrescriptionRejected,
    /// To patients: a doctor opened their record in an emergency. Required: its email cannot
    /// be turned off.
    EmergencyAccess,
    /// To doctors: their calendar changed.
    CalendarChanged,
    /// To doctors: the day's appointments, at their agenda time.
    DailyAgenda,
    /// To doctors: a patient granted them access to their record.
    AccessGranted,
    /// To pharmacists: a medication's stock fell below its threshold.
    StockLow,
    /// To pharmacists: a lot with stock left expires soon.
    StockExpiring,
    /// Written by an admin.
    Manual,
}

impl NotificationKind {
    pub(super) fn to_proto(self) -> pb::Kind {
        match self {
            NotificationKind::AppointmentBooked => pb::Kind::AppointmentBooked,
            NotificationKind::AppointmentRescheduled => pb::Kind::AppointmentRescheduled,
            NotificationKind::AppointmentCancelled => pb::Kind::AppointmentCancelled,
            NotificationKind::AppointmentReminder => pb::Kind::AppointmentReminder,
            NotificationKind::WaitlistOffer => pb::Kind::WaitlistOffer,
            NotificationKind::PrescriptionReady => pb::Kind::PrescriptionReady,
            NotificationKind::PrescriptionRejected => pb::Kind::PrescriptionRejected,
            NotificationKind::EmergencyAccess => pb::Kind::EmergencyAccess,
            NotificationKind::CalendarChanged => pb::Kind::CalendarChanged,
            NotificationKind::DailyAgenda => pb::Kind::DailyAgenda,
            NotificationKind::AccessGranted => pb::Kind::AccessGranted,
            NotificationKind::StockLow => pb::Kind::StockLow,
            NotificationKind::StockExpiring => pb::Kind::StockExpiring,
            NotificationKind::Manual => pb::Kind::Manual,
        }
    }

    pub(super) fn from_proto(raw: i32) -> Option<NotificationKind> {
        Some(match pb::Kind::try_from(raw).ok()? {
            pb::Kind::Unspecified => return None,
            pb::Kind::AppointmentBooked => NotificationKind::AppointmentBooked,
            pb::Kind::AppointmentRescheduled => NotificationKind::AppointmentRescheduled,
            pb::Kind::AppointmentCancelled => NotificationKind::AppointmentCancelled,
            pb::Kind::AppointmentReminder => NotificationKind::AppointmentReminder,
            pb::Kind::WaitlistOffer => NotificationKind::WaitlistOffer,
            pb::Kind::PrescriptionReady => NotificationKind::PrescriptionReady,
            pb::Kind::PrescriptionRejected => NotificationKind::PrescriptionRejected,
            pb::Kind::EmergencyAccess => NotificationKind::EmergencyAccess,
            pb::Kind::CalendarChanged => NotificationKind::CalendarChanged,
            pb::Kind::DailyAgenda => NotificationKind::DailyAgenda,
            pb::Kind::AccessGranted => NotificationKind::AccessGranted,
            pb::Kind::StockLow => NotificationKind::StockLow,
            pb::Kind::StockExpiring => NotificationKind::StockExpiring,
            pb::Kind::Manual => NotificationKind::Manual,
        })
    }
}

/// How a notification travels.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationChannel {
    Email,
    Sms,
    Push,
}

impl NotificationChannel {
    pub(super) fn to_proto(self) -> pb::Channel {
        match self {
            NotificationChannel::Email => pb::Channel::Email,
            NotificationChannel::Sms => pb::Channel::Sms,
            NotificationChannel::Push => pb::Channel::Push,
        }
    }

    pub(super) fn from_proto(raw: i32) -> Option<NotificationChannel> {
        Some(match pb::Channel::try_from(raw).ok()? {
            pb::Channel::Unspecified => return None,
            pb::Channel::Email => NotificationChannel::Email,
            pb::Channel::Sms => NotificationChannel::Sms,
            pb::Channel::Push => NotificationChannel::Push,
        })
    }

    /// The contract's channels, as a repeated enum field carries them.
    pub(super) fn list_to_proto(channels: Vec<NotificationChannel>) -> Vec<i32> {
        channels.into_iter().map(|c| c.to_proto() as i32).collect()
    }
}

/// Where a notification is in its delivery.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its turn (or for quiet hours to end, or a retry).
    Queued,
    /// Claimed by a replica that is sending it.
    Sending,
    /// Accepted by the mail server or the provider.
    Sent,
    /// The last attempt failed; another is due at `nextAttemptAt`.
    Failed,
    /// Out of attempts: a dead letter, until an admin retries it.
    Dead,
    /// Not sent, and not to be: no address on the account, or the account is gone.
    Skipped,
}

impl DeliveryStatus {
    pub(super) fn to_proto(self) -> pb::DeliveryStatus {
        match self {
            DeliveryStatus::Queued => pb::DeliveryStatus::Queued,
            DeliveryStatus::Sending => pb::DeliveryStatus::Sending,
            DeliveryStatus::Sent => pb::DeliveryStatus::Sent,
            DeliveryStatus::Failed => pb::DeliveryStatus::Failed,
            DeliveryStatus::Dead => pb::DeliveryStatus::Dead,
            DeliveryStatus::Skipped => pb::DeliveryStatus::Skipped,
        }
    }

    pub(super) fn from_proto(raw: i32) -> Option<DeliveryStatus> {
        Some(match pb::DeliveryStatus::try_from(raw).ok()? {
            pb::DeliveryStatus::Unspecified => return None,
            pb::DeliveryStatus::Queued => DeliveryStatus::Queued,
            pb::DeliveryStatus::Sending => DeliveryStatus::Sending,
            pb::DeliveryStatus::Sent => DeliveryStatus::Sent,
            pb::DeliveryStatus::Failed => DeliveryStatus::Failed,
            pb::DeliveryStatus::Dead => DeliveryStatus::Dead,
            pb::DeliveryStatus::Skipped => DeliveryStatus::Skipped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [NotificationKind; 14] = [
        NotificationKind::AppointmentBooked,
        NotificationKind::AppointmentRescheduled,
        NotificationKind::AppointmentCancelled,
        NotificationKind::AppointmentReminder,
        NotificationKind::WaitlistOffer,
        NotificationKind::PrescriptionReady,
        NotificationKind::PrescriptionRejected,
        NotificationKind::EmergencyAccess,
        NotificationKind::CalendarChanged,
        NotificationKind::DailyAgenda,
        NotificationKind::AccessGranted,
        NotificationKind::StockLow,
        NotificationKind::StockExpiring,
        NotificationKind::Manual,
    ];

    #[test]
    fn kinds_cross_the_wire_both_ways() {
        for kind in KINDS {
            assert_eq!(
                NotificationKind::from_proto(kind.to_proto() as i32),
                Some(kind)
            );
        }
        assert_eq!(NotificationKind::from_proto(0), None);
        assert_eq!(NotificationKind::from_proto(99), None);
    }

    #[test]
    fn channels_and_statuses_cross_the_wire_both_ways() {
        for channel in [
            NotificationChannel::Email,
            NotificationChannel::Sms,
            NotificationChannel::Push,
        ] {
            assert_eq!(
                NotificationChannel::from_proto(channel.to_proto() as i32),
                Some(channel)
            );
        }
        for status in [
            DeliveryStatus::Queued,
            DeliveryStatus::Sending,
            DeliveryStatus::Sent,
            DeliveryStatus::Failed,
            DeliveryStatus::Dead,
            DeliveryStatus::Skipped,
        ] {
            assert_eq!(
                DeliveryStatus::from_proto(status.to_proto() as i32),
                Some(status)
            );
        }
    }

    #[test]
    fn unknown_values_read_as_null() {
        assert_eq!(NotificationChannel::from_proto(0), None);
        assert_eq!(NotificationChannel::from_proto(4), None);
        assert_eq!(DeliveryStatus::from_proto(0), None);
        assert_eq!(DeliveryStatus::from_proto(42), None);
    }
}
