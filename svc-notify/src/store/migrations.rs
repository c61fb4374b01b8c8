//! The schema, once per backend.
//!
//! A notification is one message to one person on one channel. Its `dedupe_key` names what
//! made it (the event, or the reminder, with the recipient, kind and channel), so an event
//! handled twice, or a reminder fired by two replicas, cannot make it twice. What it says —
//! the values it was made from, and once rendered the address and text — is sealed.

use svc_kit::db::Migration;

pub const MIGRATIONS: &[Migration] = &[SCHEMA];

const SCHEMA: Migration = Migration {
    version: 1,
    name: "preferences, notifications, attempts, appointments, reminders, templates, erasures, pharmacy staff",
    postgres: &[
        "CREATE TABLE preferences (
            user_id TEXT PRIMARY KEY,
            settings TEXT NOT NULL,
            agenda_minute INTEGER,
            version BIGINT NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL)",
        "CREATE TABLE notifications (
            notification_id TEXT PRIMARY KEY,
            dedupe_key TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            channel TEXT NOT NULL,
            event_type TEXT NOT NULL DEFAULT '',
            event_id TEXT NOT NULL DEFAULT '',
            urgent BOOLEAN NOT NULL DEFAULT FALSE,
            status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'dead', 'skipped')),
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at TIMESTAMPTZ NOT NULL,
            claimed_by TEXT NOT NULL DEFAULT '',
            context_key TEXT NOT NULL,
            context BYTEA NOT NULL,
            content_key TEXT NOT NULL DEFAULT '',
            content BYTEA,
            last_error TEXT NOT NULL DEFAULT '',
            created_at TIMESTAMPTZ NOT NULL,
            sent_at TIMESTAMPTZ)",
        "CREATE INDEX notifications_due ON notifications (next_attempt_at)
            WHERE status IN ('queued', 'sending', 'failed')",
        "CREATE INDEX notifications_user ON notifications (user_id, created_at DESC, notification_id DESC)",
        "CREATE INDEX notifications_status ON notifications (status, created_at DESC, notification_id DESC)",
        "CREATE INDEX notifications_recent ON notifications (user_id, channel, sent_at) WHERE status = 'sent'",
        "CREATE TABLE attempts (
            notification_id TEXT NOT NULL REFERENCES notifications (notification_id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            at TIMESTAMPTZ NOT NULL,
            ok BOOLEAN NOT NULL,
            answer TEXT NOT NULL,
            PRIMARY KEY (notification_id, number))",
        "CREATE TABLE appointments (
            appointment_id TEXT PRIMARY KEY,
            patient_id TEXT NOT NULL,
            doctor_id TEXT NOT NULL,
            starts_at TIMESTAMPTZ NOT NULL,
            live BOOLEAN NOT NULL,
            context_key TEXT NOT NULL,
            context BYTEA NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL)",
        "CREATE INDEX appointments_doctor ON appointments (doctor_id, starts_at) WHERE live",
        "CREATE INDEX appointments_patient ON appointments (patient_id)",
        "CREATE TABLE reminders (
            reminder_id TEXT PRIMARY KEY,
            appointment_id TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            lead_minutes INTEGER NOT NULL,
            due_at TIMESTAMPTZ NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'fired', 'cancelled')),
            fired_at TIMESTAMPTZ)",
        "CREATE INDEX reminders_due ON reminders (due_at) WHERE status = 'pending'",
        "CREATE INDEX reminders_appointment ON reminders (appointment_id)",
        "CREATE TABLE agendas (
            doctor_id TEXT NOT NULL,
            day TEXT NOT NULL,
            PRIMARY KEY (doctor_id, day))",
        "CREATE TABLE templates (
            kind TEXT NOT NULL,
            channel TEXT NOT NULL,
            language TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            version BIGINT NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (kind, channel, language))",
        "CREATE TABLE erasures (
            user_id TEXT PRIMARY KEY,
            erased_at TIMESTAMPTZ NOT NULL)",
        "CREATE TABLE pharmacy_staff (
            pharmacy_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            PRIMARY KEY (pharmacy_id, user_id))",
    ],
    sqlite: &[
        "CREATE TABLE preferences (
            user_id TEXT PRIMARY KEY,
            settings TEXT NOT NULL,
            agenda_minute INTEGER,
            version INTEGER NOT NULL,
            updated_at TEXT NOT NULL)",
        "CREATE TABLE notifications (
            notification_id TEXT PRIMARY KEY,
            dedupe_key TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            channel TEXT NOT NULL,
            event_type TEXT NOT NULL DEFAULT '',
            event_id TEXT NOT NULL DEFAULT '',
            urgent BOOLEAN NOT NULL DEFAULT FALSE,
            status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'dead', 'skipped')),
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at TEXT NOT NULL,
            claimed_by TEXT NOT NULL DEFAULT '',
            context_key TEXT NOT NULL,
            context BLOB NOT NULL,
            content_key TEXT NOT NULL DEFAULT '',
            content BLOB,
            last_error TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            sent_at TEXT)",
        "CREATE INDEX notifications_due ON notifications (next_attempt_at)
            WHERE status IN ('queued', 'sending', 'failed')",
        "CREATE INDEX notifications_user ON notifications (user_id, created_at DESC, notification_id DESC)",
        "CREATE INDEX notifications_status ON notifications (status, created_at DESC, notification_id DESC)",
        "CREATE INDEX notifications_recent ON notifications (user_id, channel, sent_at) WHERE status = 'sent'",
        "CREATE TABLE attempts (
            notification_id TEXT NOT NULL REFERENCES notifications (notification_id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            at TEXT NOT NULL,
            ok BOOLEAN NOT NULL,
            answer TEXT NOT NULL,
            PRIMARY KEY (notification_id, number))",
        "CREATE TABLE appointments (
            appointment_id TEXT PRIMARY KEY,
            patient_id TEXT NOT NULL,
            doctor_id TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            live BOOLEAN NOT NULL,
            context_key TEXT NOT NULL,
            context BLOB NOT NULL,
            updated_at TEXT NOT NULL)",
        "CREATE INDEX appointments_doctor ON appointments (doctor_id, starts_at) WHERE live",
        "CREATE INDEX appointments_patient ON appointments (patient_id)",
        "CREATE TABLE reminders (
            reminder_id TEXT PRIMARY KEY,
            appointment_id TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            lead_minutes INTEGER NOT NULL,
            due_at TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'fired', 'cancelled')),
            fired_at TEXT)",
        "CREATE INDEX reminders_due ON reminders (due_at) WHERE status = 'pending'",
        "CREATE INDEX reminders_appointment ON reminders (appointment_id)",
        "CREATE TABLE agendas (
            doctor_id TEXT NOT NULL,
            day TEXT NOT NULL,
            PRIMARY KEY (doctor_id, day))",
        "CREATE TABLE templates (
            kind TEXT NOT NULL,
            channel TEXT NOT NULL,
            language TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            version INTEGER NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (kind, channel, language))",
        "CREATE TABLE erasures (
            user_id TEXT PRIMARY KEY,
            erased_at TEXT NOT NULL)",
        "CREATE TABLE pharmacy_staff (
            pharmacy_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            PRIMARY KEY (pharmacy_id, user_id))",
    ],
};
