//! What notify decides without I/O: the kinds and channels, who may do what, preferences and
//! their defaults, quiet hours, backoff, and the templates in every language.

pub mod access;
pub mod locale;
pub mod preferences;
pub mod templates;

use medmesh_proto::notify::v1 as pb;

/// What a notification is about. The string is how it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    AppointmentBooked,
    AppointmentRescheduled,
    AppointmentCancelled,
    AppointmentReminder,
    WaitlistOffer,
    PrescriptionReady,
    PrescriptionRejected,
    EmergencyAccess,
    CalendarChanged,
    DailyAgenda,
    AccessGranted,
    StockLow,
    StockExpiring,
    Manual,
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::AppointmentBooked,
        Kind::AppointmentRescheduled,
        Kind::AppointmentCancelled,
        Kind::AppointmentReminder,
        Kind::WaitlistOffer,
        Kind::PrescriptionReady,
        Kind::PrescriptionRejected,
        Kind::EmergencyAccess,
        Kind::CalendarChanged,
        Kind::DailyAgenda,
        Kind::AccessGranted,
        Kind::StockLow,
        Kind::StockExpiring,
        Kind::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AppointmentBooked => "appointment_booked",
            Kind::AppointmentRescheduled => "appointment_rescheduled",
            Kind::AppointmentCancelled => "appointment_cancelled",
            Kind::AppointmentReminder => "appointment_reminder",
            Kind::WaitlistOffer => "waitlist_offer",
            Kind::PrescriptionReady => "prescription_ready",
            Kind::PrescriptionRejected => "prescription_rejected",
            Kind::EmergencyAccess => "emergency_access",
            Kind::CalendarChanged => "calendar_changed",
            Kind::DailyAgenda => "daily_agenda",
            Kind::AccessGranted => "access_granted",
            Kind::StockLow => "stock_low",
            Kind::StockExpiring => "stock_expiring",
            Kind::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Legally required: the patient is told on email whatever their preferences say.
    pub fn required(self) -> bool {
        matches!(self, Kind::EmergencyAccess)
    }

    /// Sent at once on SMS and push even in quiet hours.
    pub fn urgent(self) -> bool {
        matches!(self, Kind::EmergencyAccess | Kind::WaitlistOffer)
    }

    pub fn from_pb(kind: pb::Kind) -> Option<Kind> {
        Some(match kind {
            pb::Kind::Unspecified => return None,
            pb::Kind::AppointmentBooked => Kind::AppointmentBooked,
            pb::Kind::AppointmentRescheduled => Kind::AppointmentRescheduled,
            pb::Kind::AppointmentCancelled => Kind::AppointmentCancelled,
            pb::Kind::AppointmentReminder => Kind::AppointmentReminder,
            pb::Kind::WaitlistOffer => Kind::WaitlistOffer,
            pb::Kind::PrescriptionReady => Kind::PrescriptionReady,
            pb::Kind::PrescriptionRejected => Kind::PrescriptionRejected,
            pb::Kind::EmergencyAccess => Kind::EmergencyAccess,
            pb::Kind::CalendarChanged => Kind::CalendarChanged,
            pb::Kind::DailyAgenda => Kind::DailyAgenda,
            pb::Kind::AccessGranted => Kind::AccessGranted,
            pb::Kind::StockLow => Kind::StockLow,
            pb::Kind::StockExpiring => Kind::StockExpiring,
            pb::Kind::Manual => Kind::Manual,
        })
    }

    pub fn to_pb(self) -> pb::Kind {
        match self {
            Kind::AppointmentBooked => pb::Kind::AppointmentBooked,
            Kind::AppointmentRescheduled => pb::Kind::AppointmentRescheduled,
            Kind::AppointmentCancelled => pb::Kind::AppointmentCancelled,
            Kind::AppointmentReminder => pb::Kind::AppointmentReminder,
            Kind::WaitlistOffer => pb::Kind::WaitlistOffer,
            Kind::PrescriptionReady => pb::Kind::PrescriptionReady,
            Kind::PrescriptionRejected => pb::Kind::PrescriptionRejected,
            Kind::EmergencyAccess => pb::Kind::EmergencyAccess,
            Kind::CalendarChanged => pb::Kind::CalendarChanged,
            Kind::DailyAgenda => pb::Kind::DailyAgenda,
            Kind::AccessGranted => pb::Kind::AccessGranted,
            Kind::StockLow => pb::Kind::StockLow,
            Kind::StockExpiring => pb::Kind::StockExpiring,
            Kind::Manual => pb::Kind::Manual,
        }
    }
}

/// How a notification travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Email,
    Sms,
    Push,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Push];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn from_pb(channel: pb::Channel) -> Option<Channel> {
        match channel {
            pb::Channel::Unspecified => None,
            pb::Channel::Email => Some(Channel::Email),
            pb::Channel::Sms => Some(Channel::Sms),
            pb::Channel::Push => Some(Channel::Push),
        }
    }

    pub fn to_pb(self) -> pb::Channel {
        match self {
            Channel::Email => pb::Channel::Email,
            Channel::Sms => pb::Channel::Sms,
            Channel::Push => pb::Channel::Push,
        }
    }

    /// Held back during the recipient's quiet hours (email waits in the inbox anyway).
    pub fn intrusive(self) -> bool {
        !matches!(self, Channel::Email)
    }
}

/// The languages templates ship in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lang {
    En,
    Ro,
    Ru,
    Uk,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::En, Lang::Ro, Lang::Ru, Lang::Uk];

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ro => "ro",
            Lang::Ru => "ru",
            Lang::Uk => "uk",
        }
    }

    /// Exactly one of the four tags.
    pub fn parse(s: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// The language of a BCP 47 tag ("uk-UA" → uk, "ro_MD" → ro), English for any other.
    pub fn from_tag(tag: &str) -> Lang {
        let primary = tag
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        Lang::parse(&primary).unwrap_or(Lang::En)
    }
}
