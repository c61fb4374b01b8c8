//! The access log's chain. Each patient's log is a chain: every entry's hash is SHA-256 over
//! the previous entry's hash and the entry's own fields, each written with its length so no
//! two different entries hash alike. Editing, inserting or removing an entry inside a chain
//! breaks the link after it; the chain's head (the last sequence and hash, kept apart) shows a
//! removed tail. [`verify`] walks a chain and names the first link that does not hold.

use sha2::{Digest, Sha256};

/// The hash before a chain's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an access-log entry says, as hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub patient_id: String,
    pub sequence: i64,
    pub actor_id: String,
    pub actor_role: String,
    /// "read" or "write".
    pub action: String,
    pub resource: String,
    /// An access basis ("care", "grant" …), or "none" for a refusal.
    pub basis: String,
    pub reason: String,
    pub allowed: bool,
    pub flagged: bool,
    pub trace_id: String,
    /// RFC 3339 with microseconds, UTC.
    pub at: String,
}

impl Link {
    /// This entry's hash after `previous`.
    pub fn hash(&self, previous: &str) -> String {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        field(previous.as_bytes());
        field(self.patient_id.as_bytes());
        field(&self.sequence.to_be_bytes());
        field(self.actor_id.as_bytes());
        field(self.actor_role.as_bytes());
        field(self.action.as_bytes());
        field(self.resource.as_bytes());
        field(self.basis.as_bytes());
        field(self.reason.as_bytes());
        field(&[u8::from(self.allowed), u8::from(self.flagged)]);
        field(self.trace_id.as_bytes());
        field(self.at.as_bytes());
        hex(&h.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A stored entry: its fields and the hashes written with it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub link: Link,
    pub previous_hash: String,
    pub hash: String,
}

/// Where a chain stops holding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub patient_id: String,
    pub sequence: i64,
    pub problem: String,
}

/// Walks one patient's chain in sequence order against its head (`head`: the last sequence
/// and hash the chain reached). `None` when every link holds.
pub fn verify(
    patient_id: &str,
    entries: impl IntoIterator<Item = Stored>,
    head: Option<(i64, &str)>,
) -> Option<Broken> {
    let broken = |sequence: i64, problem: &str| {
        Some(Broken {
            patient_id: patient_id.to_string(),
            sequence,
            problem: problem.to_string(),
        })
    };
    let mut previous = GENESIS.to_string();
    let mut expected = 1;
    for entry in entries {
        let link = &entry.link;
        if link.sequence != expected {
            return broken(
                expected,
                "an entry is missing (the sequence jumps from here)",
            );
        }
        if link.patient_id != patient_id {
            return broken(link.sequence, "the entry names another patient");
        }
        if entry.previous_hash != previous {
            return broken(
                link.sequence,
                "the entry does not follow the one before it (previous hash differs)",
            );
        }
        let hash = link.hash(&previous);
        if entry.hash != hash {
            return broken(
                link.sequence,
                "the entry was changed after it was written (its hash does not match)",
            );
        }
        previous = hash;
        expected += 1;
    }
    let last = expected - 1;
    match head {
        Some((sequence, _)) if sequence != last => broken(
            last + 1,
            "entries at the end of the chain are missing (the head is further on)",
        ),
        Some((_, hash)) if hash != previous => {
            broken(last, "the chain's head does not match its last entry")
        }
        None if last > 0 => broken(1, "the chain has entries but no head"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Stored> {
        let mut previous = GENESIS.to_string();
        (1..=n)
            .map(|sequence| {
                let link = Link {
                    patient_id: "p".into(),
                    sequence,
                    actor_id: "d".into(),
                    actor_role: "doctor".into(),
                    action: "read".into(),
                    resource: "card".into(),
                    basis: "care".into(),
                    reason: String::new(),
                    allowed: true,
                    flagged: false,
                    trace_id: format!("t{sequence}"),
                    at: "2026-12-01T10:00:00.000000Z".into(),
                };
                let hash = link.hash(&previous);
                let stored = Stored {
                    link,
                    previous_hash: previous.clone(),
                    hash: hash.clone(),
                };
                previous = hash;
                stored
            })
            .collect()
    }

    fn head(c: &[Stored]) -> Option<(i64, &str)> {
        c.last().map(|s| (s.link.sequence, s.hash.as_str()))
    }

    #[test]
    fn an_untouched_chain_holds() {
        let c = chain(5);
        assert_eq!(verify("p", c.clone(), head(&c)), None);
        assert_eq!(verify("p", Vec::new(), None), None);
    }

    #[test]
    fn an_edited_field_is_named_at_its_entry() {
        let c = chain(5);
        let mut edited = c.clone();
        edited[2].link.reason = "nothing to see".into();
        let broken = verify("p", edited, head(&c)).unwrap();
        assert_eq!(broken.sequence, 3);
        assert!(broken.problem.contains("changed"), "{broken:?}");
        // Rehashing the edited entry moves the break to the next link.
        let mut rehashed = c.clone();
        rehashed[2].link.allowed = false;
        rehashed[2].hash = rehashed[2].link.hash(&rehashed[2].previous_hash);
        assert_eq!(verify("p", rehashed, head(&c)).unwrap().sequence, 4);
    }

    #[test]
    fn removed_entries_are_found_inside_and_at_the_end() {
        let c = chain(5);
        let mut gap = c.clone();
        gap.remove(1);
        assert_eq!(verify("p", gap, head(&c)).unwrap().sequence, 2);
        let mut tail = c.clone();
        tail.pop();
        assert_eq!(verify("p", tail, head(&c)).unwrap().sequence, 5);
    }

    #[test]
    fn fields_cannot_be_shifted_between_each_other() {
        let c = chain(1);
        let mut shifted = c[0].link.clone();
        shifted.actor_id = "dd".into();
        shifted.actor_role = "octor".into();
        assert_ne!(shifted.hash(GENESIS), c[0].hash);
    }
}
